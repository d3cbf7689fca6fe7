package domains

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
)

// eachDatabase runs f on a migrated SQLite database and on a migrated
// PostgreSQL one; open opens another connection to the same database, as
// a second Seedbed process would.
func eachDatabase(t *testing.T, f func(t *testing.T, open func() *store.Store)) {
	t.Helper()
	dbs := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "seedbed.db") }},
		{"postgres", func(t *testing.T) string { return testutil.PostgresURL(t) }},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			url := db.url(t)
			f(t, func() *store.Store {
				s, err := store.Open(context.Background(), url)
				if err != nil {
					t.Fatalf("open %s: %v", url, err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// TestStorage checks certmagic's storage contract on the database: values
// by key, directories implied by keys, deletes of whole directories, and
// keys holding characters LIKE would treat as wildcards.
func TestStorage(t *testing.T) {
	eachDatabase(t, func(t *testing.T, open func() *store.Store) {
		ctx := context.Background()
		s := NewStorage(open())
		put := map[string]string{
			"acme/ca/users/a@example.com/a.json":            "account",
			"certificates/ca/api.example.com/api.json":      "meta",
			"certificates/ca/api.example.com/api.crt":       "cert",
			"certificates/ca/wildcard_.example.com/w.crt":   "wild",
			"certificates/ca/api.example.company/other.crt": "other",
			"certificates/ca_x/z.crt":                       "sibling with underscore",
		}
		for k, v := range put {
			if err := s.Store(ctx, k, []byte(v)); err != nil {
				t.Fatalf("Store %s: %v", k, err)
			}
		}
		if err := s.Store(ctx, "certificates/ca/api.example.com/api.crt", []byte("renewed")); err != nil {
			t.Fatal(err)
		}
		if b, err := s.Load(ctx, "certificates/ca/api.example.com/api.crt"); err != nil || string(b) != "renewed" {
			t.Fatalf("Load after overwrite = %q, %v", b, err)
		}
		if _, err := s.Load(ctx, "certificates/ca/api.example.com"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load of a directory: %v, want fs.ErrNotExist", err)
		}
		if !s.Exists(ctx, "certificates/ca") || !s.Exists(ctx, "certificates/ca/api.example.com/api.crt") || s.Exists(ctx, "certificates/c") {
			t.Fatal("Exists must see files and directories, and no partial component")
		}
		got, err := s.List(ctx, "certificates/ca", false)
		want := []string{"certificates/ca/api.example.com", "certificates/ca/api.example.company", "certificates/ca/wildcard_.example.com"}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("List non-recursive = %v, %v; want %v", got, err, want)
		}
		got, err = s.List(ctx, "certificates/ca/api.example.com", true)
		want = []string{"certificates/ca/api.example.com/api.crt", "certificates/ca/api.example.com/api.json"}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("List recursive = %v, %v; want %v", got, err, want)
		}
		if _, err := s.List(ctx, "nothing/here", true); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List of nothing: %v, want fs.ErrNotExist", err)
		}
		info, err := s.Stat(ctx, "certificates/ca/api.example.com/api.crt")
		if err != nil || !info.IsTerminal || info.Size != int64(len("renewed")) || time.Since(info.Modified) > time.Minute {
			t.Fatalf("Stat of a file = %+v, %v", info, err)
		}
		if info, err := s.Stat(ctx, "certificates/ca"); err != nil || info.IsTerminal {
			t.Fatalf("Stat of a directory = %+v, %v", info, err)
		}
		if _, err := s.Stat(ctx, "certificates/nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of nothing: %v", err)
		}
		if err := s.Delete(ctx, "certificates/ca/api.example.com"); err != nil {
			t.Fatal(err)
		}
		if s.Exists(ctx, "certificates/ca/api.example.com") || !s.Exists(ctx, "certificates/ca/api.example.company/other.crt") || !s.Exists(ctx, "certificates/ca_x/z.crt") {
			t.Fatal("Delete must remove the directory and nothing that merely starts like it")
		}
		if err := s.Delete(ctx, "certificates/ca/api.example.com"); err != nil {
			t.Fatalf("deleting what is gone is no error: %v", err)
		}
		// A second process reads what the first stored.
		other := NewStorage(open())
		if b, err := other.Load(ctx, "acme/ca/users/a@example.com/a.json"); err != nil || string(b) != "account" {
			t.Fatalf("another process Load = %q, %v", b, err)
		}
	})
}

// TestStorageLocks checks that two processes' storages exclude each other
// by name, that Lock waits for Unlock, and that an abandoned lock is taken
// over once it expires.
func TestStorageLocks(t *testing.T) {
	eachDatabase(t, func(t *testing.T, open func() *store.Store) {
		ctx := context.Background()
		a, b := NewStorage(open()), NewStorage(open())
		if err := a.Lock(ctx, "issue_cert_api.example.com"); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.TryLock(ctx, "issue_cert_api.example.com"); err != nil || ok {
			t.Fatalf("b took a lock a holds: %v, %v", ok, err)
		}
		if ok, err := a.TryLock(ctx, "issue_cert_api.example.com"); err != nil || ok {
			t.Fatalf("a took its own lock twice: %v, %v (two goroutines of one process must exclude each other)", ok, err)
		}
		if ok, err := b.TryLock(ctx, "issue_cert_other.example.com"); err != nil || !ok {
			t.Fatalf("b could not take another name: %v, %v", ok, err)
		}
		got := make(chan error, 1)
		go func() { got <- b.Lock(ctx, "issue_cert_api.example.com") }()
		select {
		case err := <-got:
			t.Fatalf("b.Lock returned while a held the lock: %v", err)
		case <-time.After(1200 * time.Millisecond):
		}
		if err := a.Unlock(ctx, "issue_cert_api.example.com"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("b.Lock did not return after a unlocked")
		}
		if err := b.RenewLockLease(ctx, "issue_cert_api.example.com", time.Minute); err != nil {
			t.Fatalf("renew a held lease: %v", err)
		}
		if err := a.RenewLockLease(ctx, "issue_cert_api.example.com", time.Minute); err == nil {
			t.Fatal("a renewed a lease b holds")
		}
		short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
		defer cancel()
		if err := a.Lock(short, "issue_cert_api.example.com"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock must give up when its context ends: %v", err)
		}

		// A process that died holding a lock: its row expires.
		db := open()
		if ok, err := db.TryLockTLS(ctx, "abandoned", "dead-process", 300*time.Millisecond); err != nil || !ok {
			t.Fatalf("lock for the dead process: %v, %v", ok, err)
		}
		if ok, _ := a.TryLock(ctx, "abandoned"); ok {
			t.Fatal("took a lock before it expired")
		}
		time.Sleep(400 * time.Millisecond)
		if ok, err := a.TryLock(ctx, "abandoned"); err != nil || !ok {
			t.Fatalf("an expired lock was not taken over: %v, %v", ok, err)
		}
	})
}

var _ certmagic.Storage = (*Storage)(nil)
