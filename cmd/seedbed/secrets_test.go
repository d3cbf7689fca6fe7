package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

const testDeployKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDy0nR4kBnmD4AfbH8xZJnfq3lUxZ7Fh8WL0ThgxAAAAJiK3v1Hit79Rw
-----END OPENSSH PRIVATE KEY-----`

// rotationFixture is a data dir and database holding every kind of sealed
// value, sealed under the key serve made on its first start.
type rotationFixture struct {
	cfg   Config
	st    *store.Store
	want  map[string]string // every secret, by where it is kept
	count int
}

func newRotationFixture(t *testing.T, dbURL func(dir string) string, envKey string) *rotationFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{DataDir: dir, DatabaseURL: dbURL(dir), Workers: 1, SecretKey: envKey}
	if err := cfg.finish(nil); err != nil {
		t.Fatal(err)
	}
	sealer, _, err := loadSealer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := pipelines.New(pipelines.Config{Store: st, Sealer: sealer})
	shop, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "git@github.com:acme/shop.git", Branch: "main", DeployKey: testDeployKey, NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	blog, err := svc.CreateApp(ctx, pipelines.NewApp{Name: "blog", RepoURL: "https://github.com/acme/blog.git", Branch: "main", NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	set := func(app, stage, key, value string, secret bool) {
		t.Helper()
		if err := svc.SetVar(ctx, app, stage, key, value, secret); err != nil {
			t.Fatal(err)
		}
	}
	set("shop", "dev", "API_KEY", "dev-api-key-123", true)
	set("shop", "prod", "API_KEY", "prod-api-key-456", true)
	set("shop", "prod", "TLS_KEY", testDeployKey, true)
	set("shop", "prod", "GREETING", "hi", false)
	set("blog", "staging", "DB_PASSWORD", "correct-horse-battery", true)
	forge, token := "github", "ghp_0123456789abcdefghij"
	if _, err := svc.SaveForgeSettings(ctx, "blog", pipelines.ForgeSettingsUpdate{Forge: &forge, Token: &token}); err != nil {
		t.Fatal(err)
	}
	f := &rotationFixture{cfg: cfg, st: st}
	opened, failed, err := pipelines.OpenSecrets(ctx, st, sealer)
	if err != nil || len(failed) > 0 {
		t.Fatalf("before rotating: %v %v", failed, err)
	}
	f.want, f.count = opened, len(opened)
	if f.count != 8 {
		t.Fatalf("the fixture holds %d sealed values, want 8: %v", f.count, slices.Sorted(maps.Keys(opened)))
	}
	// Each app's webhook secret is among them: the one deliveries are
	// signed with.
	for _, app := range []store.App{shop, blog} {
		secret, err := svc.WebhookSecret(app)
		if err != nil || len(secret) < 32 || f.want["webhook secret of app "+app.Name] != secret {
			t.Fatalf("webhook secret of %s: %q, %v; the fixture holds %v", app.Name, secret, err, slices.Sorted(maps.Keys(opened)))
		}
	}
	return f
}

// keyOf reads a key file of the data dir; nil if it is not there.
func (f *rotationFixture) keyOf(t *testing.T, name string) []byte {
	t.Helper()
	key, err := readKeyFile(filepath.Join(f.cfg.DataDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// opensAll checks that key opens every secret, unchanged, and that they
// are all sealed under it.
func (f *rotationFixture) opensAll(t *testing.T, s *pipelines.Sealer, what string) {
	t.Helper()
	opened, failed, err := pipelines.OpenSecrets(context.Background(), f.st, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 || !maps.Equal(opened, f.want) {
		t.Fatalf("%s: %d of %d secrets open as before; failed: %v", what, len(opened), f.count, failed)
	}
}

// opensNone checks that key opens none of the secrets.
func (f *rotationFixture) opensNone(t *testing.T, key []byte, what string) {
	t.Helper()
	s, err := pipelines.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	opened, failed, err := pipelines.OpenSecrets(context.Background(), f.st, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) > 0 || len(failed) != f.count {
		t.Fatalf("%s: opens %d secrets (%v), want none", what, len(opened), maps.Keys(opened))
	}
}

func sealerOf(t *testing.T, keys ...[]byte) *pipelines.Sealer {
	t.Helper()
	s, err := pipelines.NewSealer(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// failAtLast makes the rotation fail at the last value, after every other
// one was re-sealed in the transaction: the transaction must roll back.
func failAtLast(count int) func(store.SealedValue) error {
	n := 0
	return func(store.SealedValue) error {
		if n++; n == count {
			return errors.New("simulated crash before the commit")
		}
		return nil
	}
}

// Rotating the key re-seals every stage secret, forge token, deploy key
// and webhook secret under a new key; the old key opens none afterwards. A rotation
// interrupted after the new key file is written, before or after the
// database commits, loses nothing: serve still opens every value, and
// running the command again finishes it.
func TestRotateKey(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) func(dir string) string
	}{
		{"sqlite", func(t *testing.T) func(string) string {
			return func(dir string) string { return filepath.Join(dir, "seedbed.db") }
		}},
		{"postgres", func(t *testing.T) func(string) string {
			url := testutil.PostgresURL(t)
			return func(string) string { return url }
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			f := newRotationFixture(t, db.url(t), "")
			oldKey := f.keyOf(t, keyFile)

			// 1. Interrupted before the commit.
			var out bytes.Buffer
			err := rotateKey(ctx, f.cfg, rotateOptions{check: failAtLast(f.count)}, &out)
			if err == nil || !strings.Contains(err.Error(), "simulated crash") || !strings.Contains(err.Error(), "still holds every secret") {
				t.Fatalf("rotation with a failing transaction: %v", err)
			}
			newKey := f.keyOf(t, newKeyFile)
			if newKey == nil || !bytes.Equal(f.keyOf(t, keyFile), oldKey) {
				t.Fatalf("after the failed rotation: secret.key changed or secret.key.new missing")
			}
			f.opensAll(t, sealerOf(t, oldKey), "after a rotation that failed before its commit, the old key alone")
			serve, pending, err := loadSealer(f.cfg)
			if err != nil || !pending {
				t.Fatalf("serve's key ring: pending %v, %v", pending, err)
			}
			f.opensAll(t, serve, "serve after a rotation that failed before its commit")

			// 2. Interrupted after the commit, before the key file switch.
			if _, err := pipelines.RotateSecrets(ctx, f.st, sealerOf(t, oldKey, newKey), sealerOf(t, newKey), nil); err != nil {
				t.Fatal(err)
			}
			f.opensNone(t, oldKey, "after the commit, the old key alone")
			if serve, _, err = loadSealer(f.cfg); err != nil {
				t.Fatal(err)
			}
			f.opensAll(t, serve, "serve after a rotation that stopped between its commit and the key switch")

			// 3. Run again, as a person would: through the CLI.
			c := cli{t: t, env: map[string]string{}}
			stdout := c.must("secrets", "rotate-key", "--data-dir", f.cfg.DataDir, "--database-url", f.cfg.DatabaseURL)
			if !strings.Contains(stdout, "Finishing the rotation to key "+pipelines.KeyID(newKey)) || !strings.Contains(stdout, "Re-sealed 8 secrets under key "+pipelines.KeyID(newKey)) {
				t.Fatalf("rotate-key printed:\n%s", stdout)
			}
			if got := f.keyOf(t, keyFile); !bytes.Equal(got, newKey) || f.keyOf(t, newKeyFile) != nil {
				t.Fatalf("after the rotation, secret.key is not the new key, or secret.key.new is left")
			}
			f.opensAll(t, sealerOf(t, newKey), "the new key alone")
			f.opensNone(t, oldKey, "the old key alone")
			if serve, pending, err = loadSealer(f.cfg); err != nil || pending {
				t.Fatalf("serve after the rotation: pending %v, %v", pending, err)
			}
			f.opensAll(t, serve, "serve after the rotation")

			// 4. Once more, from the start: a fresh key, nothing lost.
			stdout = c.must("secrets", "rotate-key", "--data-dir", f.cfg.DataDir, "--database-url", f.cfg.DatabaseURL)
			third := f.keyOf(t, keyFile)
			if bytes.Equal(third, newKey) || !strings.Contains(stdout, "Re-sealed 8 secrets under key "+pipelines.KeyID(third)+" (0 were under it already)") {
				t.Fatalf("a second rotation printed:\n%s", stdout)
			}
			f.opensAll(t, sealerOf(t, third), "after a second rotation, its key")
			f.opensNone(t, newKey, "after a second rotation, the key before")
		})
	}
}

// With SEEDBED_SECRET_KEY, Seedbed cannot change the key itself: the
// command re-seals, keeps a key it made in the data dir until the person
// has set it, and says what to set.
func TestRotateKeyFromEnvironment(t *testing.T) {
	oldKey := bytes.Repeat([]byte{7}, 32)
	given := bytes.Repeat([]byte{9}, 32)
	tests := []struct {
		name     string
		newKey   string // SEEDBED_NEW_SECRET_KEY
		wantFile bool   // the new key is kept in data/secret.key.new
	}{
		{"a key the command makes", "", true},
		{"a key the person gives", hex.EncodeToString(given), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sqlite := func(dir string) string { return filepath.Join(dir, "seedbed.db") }
			f := newRotationFixture(t, sqlite, hex.EncodeToString(oldKey))
			c := cli{t: t, env: map[string]string{"SEEDBED_SECRET_KEY": hex.EncodeToString(oldKey), "SEEDBED_NEW_SECRET_KEY": tt.newKey}}
			stdout := c.must("secrets", "rotate-key", "--data-dir", f.cfg.DataDir)
			newKey := given
			if tt.wantFile {
				if newKey = f.keyOf(t, newKeyFile); newKey == nil {
					t.Fatal("the key the command made is kept nowhere")
				}
				if !strings.Contains(stdout, "Set SEEDBED_SECRET_KEY="+hex.EncodeToString(newKey)) {
					t.Fatalf("rotate-key printed:\n%s", stdout)
				}
			} else if f.keyOf(t, newKeyFile) != nil || !strings.Contains(stdout, "Set SEEDBED_SECRET_KEY to the value of SEEDBED_NEW_SECRET_KEY") {
				t.Fatalf("with a given key: secret.key.new written, or rotate-key printed:\n%s", stdout)
			}
			if f.keyOf(t, keyFile) != nil {
				t.Fatal("rotate-key made a data/secret.key although the key comes from SEEDBED_SECRET_KEY")
			}
			f.opensAll(t, sealerOf(t, newKey), "the new key alone")
			f.opensNone(t, oldKey, "the old key alone")
		})
	}
}

// A wrong call or a missing key says what to do.
func TestRotateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"no subcommand", []string{"secrets"}, nil, 2, "seedbed secrets rotate-key"},
		{"no key file", []string{"secrets", "rotate-key", "--data-dir", dir}, nil, 1, "there is no " + filepath.Join(dir, keyFile)},
		{"a bad new key", []string{"secrets", "rotate-key", "--data-dir", dir}, map[string]string{"SEEDBED_SECRET_KEY": strings.Repeat("ab", 32), "SEEDBED_NEW_SECRET_KEY": "short"}, 1, "openssl rand -hex 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cli{t: t, env: tt.env}.run(tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, %q; want %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// tlsKey is a multi-line stage secret, different from the deploy key.
const tlsKey = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu
NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ
-----END PRIVATE KEY-----`

// The whole path on the real binary's wiring: a multi-line secret that a
// build and a deploy hook print (whole, line by line in pieces, as JSON)
// shows in neither log; the deploy key is masked in the build log and
// never returned; a 2-character secret is refused through the API and the
// CLI with the same clear error.
func TestSecretsMaskedEndToEnd(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	ctx := context.Background()
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)

	leak := `printf '%s\n' "$TLS_KEY"
printf '%s\n' "$TLS_KEY" | while IFS= read -r line; do
	printf 'piece:%s' "$(printf '%s' "$line" | cut -c1-9)"; sleep 0.05
	printf '%s\n' "$(printf '%s' "$line" | cut -c10-)"
done
printf '%s' "$TLS_KEY" | python3 -c 'import json,sys; print(json.dumps({"key": sys.stdin.read()}))'
echo leak-done
`
	repo := testutil.NewRepo(t)
	repo.Commit("leaky", map[string]string{
		"seedbed.yml": `services:
  web:
    path: web
    runtime: process
    hooks:
      before_build: ["cat committed.txt"]
      before_deploy: ["sh leak.sh"]
    functions:
      page:
        handler: python3 -m http.server $PORT --bind 127.0.0.1
        routes: ["GET /{file+}"]
`,
		// A build has no stage secrets, but it may print a committed copy.
		"web/committed.txt": tlsKey + "\n" + testDeployKey + "\n",
		"web/leak.sh":       leak,
		"web/index.html":    "hi",
	})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "vault", RepoURL: repo.Dir, Branch: "main", DeployKey: testDeployKey}); err != nil {
		t.Fatal(err)
	}
	if err := a.api.SetVar(ctx, "vault", "dev", "TLS_KEY", apiv1.SetVarRequest{Value: tlsKey, Secret: true}); err != nil {
		t.Fatal(err)
	}

	const want = "The secret PIN is 2 characters long; a secret needs at least 8"
	var ae *apiv1.APIError
	if err := a.api.SetVar(ctx, "vault", "dev", "PIN", apiv1.SetVarRequest{Value: "ab", Secret: true}); !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Body.Message, want) {
		t.Fatalf("API: a 2-character secret: %v", err)
	}
	if code, _, errOut := c.run("env", "set", "vault", "--stage", "dev", "--secret", "PIN=ab"); code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("CLI: a 2-character secret: exit %d, %q", code, errOut)
	}

	d, b := a.deploy("vault", "dev", "")
	buildLog, deployLog := a.logText("build", b.ID), a.logText("deploy", d.ID)
	if d.Status != "succeeded" {
		t.Fatalf("deploy %s: %s\n%s\n%s", d.Status, d.Error, buildLog, deployLog)
	}
	if !strings.Contains(deployLog, "leak-done") || !strings.Contains(deployLog, "piece:") || !strings.Contains(buildLog, "committed.txt") {
		t.Fatalf("the hooks did not print as expected:\nbuild:\n%s\ndeploy:\n%s", buildLog, deployLog)
	}
	for _, secret := range []string{tlsKey, testDeployKey} {
		for _, line := range strings.Split(secret, "\n") {
			for name, text := range map[string]string{"build log": buildLog, "deploy log": deployLog} {
				if strings.Contains(text, line) {
					t.Errorf("the %s shows the secret's line %q", name, line)
				}
			}
		}
	}
	apps, err := a.api.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v", apps); strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "v2:") {
		t.Fatalf("the API returns the deploy key: %s", s)
	}
}

// A deploy key and a webhook secret an older Seedbed stored in clear are
// sealed when serve starts; builds still get the key, and deliveries
// signed with the old secret still verify.
func TestServeSealsSecretsStoredInClear(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "seedbed.db")
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	const clearSecret = "q5Zc2mN0r8Tt1xWf6yBv3hJk9LpA4sDe7gUi0oPzXcY" // forge.Secret's form
	old := store.App{Name: "old", RepoURL: "git@example.com:acme/old.git", Branch: "main", DeployKey: testDeployKey, WebhookSecret: clearSecret}
	if err := st.CreateApp(ctx, &old, []store.Stage{{Name: "dev"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	a := bootApp(t, Config{Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbPath, Domain: "localhost",
		Workers: 1, AdminEmail: adminEmail, AdminPassword: adminPassword, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true})
	app, err := a.store.AppByName(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if !pipelines.IsSealed(app.DeployKey) || strings.Contains(app.DeployKey, "PRIVATE KEY") {
		t.Fatalf("after serve started, the deploy key is stored as %q", app.DeployKey)
	}
	if !pipelines.IsSealed(app.WebhookSecret) || strings.Contains(app.WebhookSecret, clearSecret) {
		t.Fatalf("after serve started, the webhook secret is stored as %q", app.WebhookSecret)
	}
	sealer, _, err := loadSealer(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	opened, failed, err := pipelines.OpenSecrets(ctx, a.store, sealer)
	if err != nil || len(failed) > 0 || opened["deploy key of app old"] != testDeployKey || opened["webhook secret of app old"] != clearSecret {
		t.Fatalf("the sealed values do not open as before: %v %v", failed, err)
	}
	// The forge still holds the old secret: its deliveries verify (a tag
	// push no stage follows: verified, then ignored).
	body := githubPush("refs/tags/v0", strings.Repeat("a", 40), "x")
	if code, answer := deliver(t, a.ConsoleURL()+"/hooks/github/old", clearSecret, "after-sealing", "push", body); code != 202 || !strings.Contains(answer, "ignored") {
		t.Fatalf("a delivery signed with the secret from before sealing: %d %s", code, answer)
	}
}

// With --artifact-store, the certificates in the bucket (every value
// sealed) are re-sealed too, before the new key becomes the current one:
// a value that does not open stops the rotation there, with the database
// re-sealed and serve opening either key; run again once it is gone, the
// rotation finishes and the bucket opens with the new key only.
func TestRotateKeyResealsTheBucket(t *testing.T) {
	ctx := context.Background()
	srv := testutil.S3(t)
	f := newRotationFixture(t, func(dir string) string { return filepath.Join(dir, "seedbed.db") }, "")
	cfg := f.cfg
	cfg.ArtifactStore, cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey = "s3://seedbed-rotate/prod", srv.Endpoint, srv.AccessKey, srv.SecretKey
	arts, err := openArtifacts(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs := certificateObjects(arts)
	oldKey := f.keyOf(t, keyFile)
	certs := func(s *pipelines.Sealer) *domains.Storage {
		t.Helper()
		st, err := domains.NewBucketStorage(objs, f.st, s)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	values := map[string]string{
		"certificates/ca/api.test/api.test.key": "-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n",
		"certificates/ca/api.test/api.test.crt": "-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n",
		"acme/ca/users/default/default.json":    "{}",
	}
	for k, v := range values {
		if err := certs(sealerOf(t, oldKey)).Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	const planted = "acme/ca/users/x/x.key" // not sealed: no key opens it
	if _, err := objs.Put(ctx, planted, strings.NewReader("-----BEGIN"), 10); err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, env: map[string]string{"SEEDBED_S3_ACCESS_KEY": srv.AccessKey, "SEEDBED_S3_SECRET_KEY": srv.SecretKey}}
	args := []string{"secrets", "rotate-key", "--data-dir", cfg.DataDir, "--artifact-store", cfg.ArtifactStore, "--s3-endpoint", srv.Endpoint}
	code, _, errOut := c.run(args...)
	if code != 1 || !strings.Contains(errOut, planted) || !strings.Contains(errOut, "Run `seedbed secrets rotate-key` again") {
		t.Fatalf("rotation with a value no key opens in the bucket: exit %d, %s", code, errOut)
	}
	newKey := f.keyOf(t, newKeyFile)
	if newKey == nil || !bytes.Equal(f.keyOf(t, keyFile), oldKey) {
		t.Fatal("the new key became the current one although the bucket was not re-sealed")
	}
	serve, pending, err := loadSealer(f.cfg)
	if err != nil || !pending {
		t.Fatalf("serve's key ring: pending %v, %v", pending, err)
	}
	for k, v := range values {
		if got, err := certs(serve).Load(ctx, k); err != nil || string(got) != v {
			t.Errorf("serve during the interrupted rotation, %s: %q, %v", k, got, err)
		}
	}

	if err := objs.Delete(ctx, planted); err != nil {
		t.Fatal(err)
	}
	stdout := c.must(args...)
	if !strings.Contains(stdout, "Re-sealed") || !strings.Contains(stdout, "certificate values in s3://seedbed-rotate/prod/tls/") {
		t.Fatalf("rotate-key printed:\n%s", stdout)
	}
	if !bytes.Equal(f.keyOf(t, keyFile), newKey) {
		t.Fatal("the rotation did not finish")
	}
	for k, v := range values {
		if got, err := certs(sealerOf(t, newKey)).Load(ctx, k); err != nil || string(got) != v {
			t.Errorf("after the rotation, %s with the new key: %q, %v", k, got, err)
		}
		if _, err := certs(sealerOf(t, oldKey)).Load(ctx, k); err == nil {
			t.Errorf("after the rotation, the old key opens %s", k)
		}
	}
	f.opensAll(t, sealerOf(t, newKey), "the database, with the new key")
}
