package pipelines

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/glebarez/go-sqlite"  // "sqlite", to read the database as an attacker with a copy would
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", the same on PostgreSQL

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// testDB is one database the secret tests run on: the store, and a plain
// SQL connection that reads what is really stored.
type testDB struct {
	name string
	open func(t *testing.T) (*store.Store, *sql.DB)
}

func secretDBs() []testDB {
	return []testDB{
		{"sqlite", func(t *testing.T) (*store.Store, *sql.DB) {
			path := filepath.Join(t.TempDir(), "seedbed.db")
			return openTestDB(t, path, "sqlite", path)
		}},
		{"postgres", func(t *testing.T) (*store.Store, *sql.DB) {
			url := testutil.PostgresURL(t)
			return openTestDB(t, url, "pgx", url)
		}},
	}
}

func openTestDB(t *testing.T, url, driver, dsn string) (*store.Store, *sql.DB) {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return st, raw
}

func testSealer(t *testing.T, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer([]byte(strings.Repeat(string(rune(fill)), 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Deploy keys and webhook secrets are sealed when an app is created; one
// stored in clear by an older Seedbed is sealed at start, once, even when
// several processes start together; git and the webhook check get the
// opened value, and a value copied to another app does not open.
func TestAppSecretsAreSealed(t *testing.T) {
	// clearWebhookSecret is what an older Seedbed stored: forge.Secret's
	// base64url text.
	const clearWebhookSecret = "q5Zc2mN0r8Tt1xWf6yBv3hJk9LpA4sDe7gUi0oPzXcY"
	tests := []struct {
		name   string
		column string
		clear  string // the value an older Seedbed left in clear
		open   func(*Service, store.App) (string, error)
	}{
		{"deploy key", "deploy_key", pemSecret, (*Service).deployKey},
		{"webhook secret", "webhook_secret", clearWebhookSecret, (*Service).WebhookSecret},
	}
	for _, db := range secretDBs() {
		for _, tt := range tests {
			t.Run(db.name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				st, raw := db.open(t)
				sealer := testSealer(t, 'k')
				svc := New(Config{Store: st, Sealer: sealer})
				created, err := svc.CreateApp(ctx, NewApp{Name: "new", RepoURL: "git@example.com:acme/new.git", Branch: "main", DeployKey: pemSecret, NoCheck: true})
				if err != nil {
					t.Fatal(err)
				}
				// The plain value of the new app: the deploy key given, or
				// the webhook secret CreateApp made (opened from what it
				// returned).
				want, err := tt.open(svc, created)
				if err != nil || want == "" {
					t.Fatalf("%s of a new app opens as %q, %v", tt.name, want, err)
				}
				// An app from before these were sealed.
				if _, err := svc.CreateApp(ctx, NewApp{Name: "old", RepoURL: "git@example.com:acme/old.git", Branch: "main", NoCheck: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := raw.ExecContext(ctx, "UPDATE apps SET "+tt.column+" = '"+tt.clear+"' WHERE name = 'old'"); err != nil {
					t.Fatal(err)
				}
				stored := func() map[string]string {
					t.Helper()
					rows, err := raw.QueryContext(ctx, "SELECT name, "+tt.column+" FROM apps")
					if err != nil {
						t.Fatal(err)
					}
					defer rows.Close()
					out := map[string]string{}
					for rows.Next() {
						var name, v string
						if err := rows.Scan(&name, &v); err != nil {
							t.Fatal(err)
						}
						out[name] = v
					}
					return out
				}
				if v := stored()["new"]; strings.Contains(v, want) || !IsSealed(v) {
					t.Fatalf("select %s from apps shows %q for a new app", tt.column, v)
				}

				// Serve and workers start at once: each seals at start.
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					total int
				)
				for i := 0; i < 4; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, err := SealStoredInClear(ctx, st, sealer)
						if err != nil {
							t.Errorf("SealStoredInClear at a concurrent start: %v", err)
						}
						mu.Lock()
						total += n
						mu.Unlock()
					}()
				}
				wg.Wait()
				if total != 1 {
					t.Fatalf("concurrent starts sealed %d values, want the one %s in clear sealed once", total, tt.name)
				}
				sealed := stored()
				for name, v := range sealed {
					if strings.Contains(v, tt.clear) || strings.Contains(v, want) || !IsSealed(v) {
						t.Errorf("after sealing, select %s from apps shows %q for %s", tt.column, v, name)
					}
				}
				if n, err := SealStoredInClear(ctx, st, sealer); err != nil || n != 0 {
					t.Fatalf("SealStoredInClear again = %d, %v; want nothing to do", n, err)
				}
				if again := stored(); again["old"] != sealed["old"] || again["new"] != sealed["new"] {
					t.Fatalf("SealStoredInClear changed sealed values: %v → %v", sealed, again)
				}
				for name, plain := range map[string]string{"new": want, "old": tt.clear} {
					app, err := st.AppByName(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					if got, err := tt.open(svc, app); err != nil || got != plain {
						t.Errorf("%s of %s opens as %q, %v; want %q", tt.name, name, got, err, plain)
					}
				}
				// Under a key this process lacks: an error naming the key
				// needed, not a wrong value.
				app, _ := st.AppByName(ctx, "new")
				other := New(Config{Store: st, Sealer: testSealer(t, 'o')})
				if got, err := tt.open(other, app); err == nil || !strings.Contains(err.Error(), "sealed under key "+sealer.KeyID()) {
					t.Errorf("%s under another key opens as %q, %v; want an error naming key %s", tt.name, got, err, sealer.KeyID())
				}
				// Bound to its app: copied to another app, it does not open.
				if _, err := raw.ExecContext(ctx, "UPDATE apps SET "+tt.column+" = (SELECT "+tt.column+" FROM apps WHERE name = 'new') WHERE name = 'old'"); err != nil {
					t.Fatal(err)
				}
				app, _ = st.AppByName(ctx, "old")
				if got, err := tt.open(svc, app); err == nil {
					t.Errorf("a %s copied to another app opened as %q", tt.name, got)
				}
			})
		}
	}
}

// Without a secret key an app cannot be created: its webhook secret
// would be stored in clear.
func TestCreateAppNeedsSealer(t *testing.T) {
	st, raw := secretDBs()[0].open(t)
	svc := New(Config{Store: st})
	_, err := svc.CreateApp(context.Background(), NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true})
	if err == nil || !strings.Contains(err.Error(), "save the webhook secret of shop: no secret key configured") {
		t.Fatalf("CreateApp without a sealer = %v", err)
	}
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM apps").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d apps stored (%v), want none", n, err)
	}
}

// A secret too short to mask is refused, with an error that says why and
// what to do; a plain variable of any length is fine.
func TestSetVarRefusesShortSecrets(t *testing.T) {
	ctx := context.Background()
	st, _ := secretDBs()[0].open(t)
	svc := New(Config{Store: st, Sealer: testSealer(t, 'k')})
	if _, err := svc.CreateApp(ctx, NewApp{Name: "shop", RepoURL: "/src/shop", Branch: "main", NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		value   string
		secret  bool
		wantErr string
	}{
		{"a 2-character secret", "ab", true, "The secret K is 2 characters long; a secret needs at least 8"},
		{"a multi-line secret of short lines", "abcd\nefgh", true, "none of them 8 characters long"},
		{"an 8-character secret", "abcdefgh", true, ""},
		{"a 2-character plain variable", "ab", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.SetVar(ctx, "shop", "dev", "K", tt.value, tt.secret)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ErrorCode(err) != EInvalid {
				t.Fatalf("SetVar = %v (%s), want an invalid-input error saying %q", err, ErrorCode(err), tt.wantErr)
			}
		})
	}
}
