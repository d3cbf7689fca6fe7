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

// A deploy key is sealed when an app is created; one stored in clear by
// an older Seedbed is sealed at start, once; git gets the opened key.
func TestDeployKeysAreSealed(t *testing.T) {
	for _, db := range secretDBs() {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			st, raw := db.open(t)
			sealer := testSealer(t, 'k')
			svc := New(Config{Store: st, Sealer: sealer})
			if _, err := svc.CreateApp(ctx, NewApp{Name: "new", RepoURL: "git@example.com:acme/new.git", Branch: "main", DeployKey: pemSecret, NoCheck: true}); err != nil {
				t.Fatal(err)
			}
			// An app from before deploy keys were sealed.
			if _, err := svc.CreateApp(ctx, NewApp{Name: "old", RepoURL: "git@example.com:acme/old.git", Branch: "main", NoCheck: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.ExecContext(ctx, "UPDATE apps SET deploy_key = '"+pemSecret+"' WHERE name = 'old'"); err != nil {
				t.Fatal(err)
			}
			storedKeys := func() map[string]string {
				t.Helper()
				rows, err := raw.QueryContext(ctx, "SELECT name, deploy_key FROM apps")
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				out := map[string]string{}
				for rows.Next() {
					var name, key string
					if err := rows.Scan(&name, &key); err != nil {
						t.Fatal(err)
					}
					out[name] = key
				}
				return out
			}
			if k := storedKeys()["new"]; strings.Contains(k, "PRIVATE KEY") || !IsSealed(k) {
				t.Fatalf("select deploy_key from apps shows %q for a new app", k)
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
					n, err := SealDeployKeys(ctx, st, sealer)
					if err != nil {
						t.Errorf("SealDeployKeys at a concurrent start: %v", err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			if total != 1 {
				t.Fatalf("concurrent starts sealed %d keys, want the one key in clear sealed once", total)
			}
			sealed := storedKeys()
			for name, k := range sealed {
				if strings.Contains(k, "PRIVATE KEY") || !IsSealed(k) {
					t.Errorf("after sealing, select deploy_key from apps shows %q for %s", k, name)
				}
			}
			if n, err := SealDeployKeys(ctx, st, sealer); err != nil || n != 0 {
				t.Fatalf("SealDeployKeys again = %d, %v; want nothing to do", n, err)
			}
			if again := storedKeys(); again["old"] != sealed["old"] || again["new"] != sealed["new"] {
				t.Fatalf("SealDeployKeys changed sealed keys: %v → %v", sealed, again)
			}
			for _, name := range []string{"new", "old"} {
				app, err := st.AppByName(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := svc.deployKey(app); err != nil || got != pemSecret {
					t.Errorf("deploy key of %s opens as %q, %v", name, got, err)
				}
			}
			// Bound to its app: copied to another app, it does not open.
			if _, err := raw.ExecContext(ctx, "UPDATE apps SET deploy_key = (SELECT deploy_key FROM apps WHERE name = 'new') WHERE name = 'old'"); err != nil {
				t.Fatal(err)
			}
			app, _ := st.AppByName(ctx, "old")
			if _, err := svc.deployKey(app); err == nil {
				t.Error("a deploy key copied to another app opened")
			}
		})
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
