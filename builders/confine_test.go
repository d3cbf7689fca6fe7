package builders

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/stack"
)

// Packaging runs in Seedbed's own process, with Seedbed's rights: what a
// build leaves in its workspace must not make it read a file outside.
// Each case is a build that tries to get the data dir's secret.key (or a
// JSON or text file next to it, which esbuild has loaders for) into its
// artifact: by a symlink its build command makes, by an import climbing
// out with "..", by an absolute import. Each build fails, naming the
// file, and no artifact or log line holds the secret.
func TestPackagingStaysInWorkspace(t *testing.T) {
	const secret = "sealing-key-0123456789"
	data := t.TempDir()
	for name, content := range map[string]string{
		"secret.key":  secret + "\n",
		"secret.txt":  secret + "\n",
		"secret.json": `{"key": "` + secret + `"}` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, txt, json := filepath.Join(data, "secret.key"), filepath.Join(data, "secret.txt"), filepath.Join(data, "secret.json")
	node := func(build, code string) map[string]string {
		return map[string]string{
			"seedbed.yml":  "services:\n  api:\n    path: api\n    runtime: node\n    build: " + build + "\n    functions:\n      hello:\n        type: lambda\n        handler: index.handler\n        routes: [\"GET /hello\"]\n",
			"api/index.js": code,
		}
	}
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{
			name:    "node: a symlink to secret.key, named .txt",
			files:   node("ln -s "+key+" key.txt", "exports.handler = async () => require('./key.txt');\n"),
			wantErr: "is outside the repository",
		},
		{
			name:    "node: a symlink to a JSON file of the data dir",
			files:   node("ln -s "+json+" key.json", "exports.handler = async () => require('./key.json');\n"),
			wantErr: "is outside the repository",
		},
		{
			name:    "node: a symlinked folder",
			files:   node("ln -s "+data+" lib", "exports.handler = async () => require('./lib/secret.txt');\n"),
			wantErr: "is outside the repository",
		},
		{
			name:    "node: an import climbing out with ..",
			files:   node("true", "exports.handler = async () => require('"+strings.Repeat("../", 30)+strings.TrimPrefix(txt, "/")+"');\n"),
			wantErr: "is outside the repository",
		},
		{
			name:    "node: an absolute import",
			files:   node("true", "exports.handler = async () => require('"+json+"');\n"),
			wantErr: "is outside the repository",
		},
		{
			name: "static: a symlink to secret.key in the output",
			files: map[string]string{
				"seedbed.yml":     "services:\n  site:\n    path: site\n    runtime: static\n    build: ln -s " + key + " key.txt\n    functions:\n      pages:\n        routes: [\"GET /\"]\n",
				"site/index.html": "hi\n",
			},
			wantErr: "points outside the folder",
		},
		{
			name: "static: the output folder a symlink to the data dir",
			files: map[string]string{
				"seedbed.yml":     "services:\n  site:\n    path: site\n    runtime: static\n    output: public\n    build: ln -s " + data + " public\n    functions:\n      pages:\n        routes: [\"GET /\"]\n",
				"site/index.html": "hi\n",
			},
			wantErr: "leads outside the repository",
		},
		{
			name: "process: a symlink to secret.key",
			files: map[string]string{
				"seedbed.yml": "services:\n  app:\n    path: app\n    runtime: process\n    build: ln -s " + key + " key\n    functions:\n      web:\n        handler: cat key\n        routes: [\"GET /\"]\n",
				"app/README":  "hi\n",
			},
			wantErr: "points outside the folder",
		},
		{
			name: "go: the handler a symlink to secret.key",
			files: map[string]string{
				"seedbed.yml": "services:\n  api:\n    path: api\n    runtime: go\n    build: ln -s " + key + " bootstrap\n    functions:\n      hello:\n        handler: bootstrap\n        routes: [\"GET /\"]\n",
				"api/README":  "hi\n",
			},
			wantErr: "is not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBuilder(t)
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			st, err := stack.ParseFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			log := &testLog{}
			_, err = b.builder.BuildWith(context.Background(), BuildOptions{Dir: dir, Stack: st, AppID: 1}, log)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v, want it to contain %q\nlog:\n%s", err, tt.wantErr, log)
			}
			if strings.Contains(log.String(), secret) || strings.Contains(err.Error(), secret) {
				t.Errorf("the secret is in the log or the error:\n%s", log)
			}
			assertNoBlobHolds(t, b.store, secret)
		})
	}
}

// assertNoBlobHolds fails if an artifact in store holds text.
func assertNoBlobHolds(t *testing.T, store *artifact.Store, text string) {
	t.Helper()
	err := filepath.WalkDir(store.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dir := filepath.Join(t.TempDir(), "x")
		if err := store.Extract(context.Background(), artifact.DigestPrefix+filepath.Base(p), dir); err != nil {
			return nil // not an artifact
		}
		return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if b, _ := os.ReadFile(p); strings.Contains(string(b), text) {
				t.Errorf("an artifact holds the secret in %s", p)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
