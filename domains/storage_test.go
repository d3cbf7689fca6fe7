package domains

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/pipelines"
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

// eachBackend runs f on each place a Storage keeps its values: the
// database (SQLite, PostgreSQL, private keys sealed) and a bucket of a
// real S3 server (every value sealed, locks on SQLite). storage makes a
// Storage on the same values and locks, as another Seedbed process would.
func eachBackend(t *testing.T, f func(t *testing.T, storage func() *Storage)) {
	t.Helper()
	eachDatabase(t, func(t *testing.T, open func() *store.Store) {
		f(t, func() *Storage { return NewStorage(open(), testSealer(t, 7)) })
	})
	t.Run("bucket", func(t *testing.T) {
		area := testArea(t)
		db := filepath.Join(t.TempDir(), "seedbed.db")
		f(t, func() *Storage {
			st, err := store.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			s, err := NewBucketStorage(area, st, testSealer(t, 7))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// testSealer is a Sealer whose key is 32 bytes of b.
func testSealer(t *testing.T, b byte) *pipelines.Sealer {
	t.Helper()
	s, err := pipelines.NewSealer(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testArea is the tls area of a bucket of its own on a real S3 server
// (SeaweedFS) started for t.
func testArea(t *testing.T) *artifact.Area {
	t.Helper()
	srv := testutil.S3(t)
	b, err := artifact.OpenBucket(context.Background(), artifact.BucketConfig{URL: "s3://seedbed-certs/prod", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b.Area("tls")
}

// TestStorage checks certmagic's storage contract on each backend: values
// by key, directories implied by keys, deletes of whole directories, and
// keys holding characters LIKE would treat as wildcards.
func TestStorage(t *testing.T) {
	eachBackend(t, func(t *testing.T, storage func() *Storage) {
		ctx := context.Background()
		s := storage()
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
		// Size is what is kept: more than the value where it is sealed.
		if err != nil || !info.IsTerminal || info.Size < int64(len("renewed")) || time.Since(info.Modified) > time.Minute {
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
		other := storage()
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
		a, b := NewStorage(open(), nil), NewStorage(open(), nil)
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

// Private keys reach the database sealed, bound to their key: a copy of
// the database does not hold them, a sealed key moved under another name
// does not open, and one stored in clear before sealing still loads; the
// secrets rotation re-seals them under a new key and they still load.
func TestStorageSealsPrivateKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, open func() *store.Store) {
		ctx := context.Background()
		db := open()
		sealer, err := pipelines.NewSealer(bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		s := NewStorage(db, sealer)
		const key, pem = "certificates/ca/api.example.com/api.example.com.key", "-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n"
		if err := s.Store(ctx, key, []byte(pem)); err != nil {
			t.Fatal(err)
		}
		if err := s.Store(ctx, "certificates/ca/api.example.com/api.example.com.crt", []byte("cert")); err != nil {
			t.Fatal(err)
		}
		raw, err := db.GetTLSObject(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw.Value, []byte("secret")) || !pipelines.IsSealed(string(raw.Value)) {
			t.Fatalf("the database holds %q, want it sealed", raw.Value)
		}
		if crt, _ := db.GetTLSObject(ctx, "certificates/ca/api.example.com/api.example.com.crt"); string(crt.Value) != "cert" {
			t.Errorf("a certificate was changed on its way in: %q", crt.Value)
		}
		if got, err := s.Load(ctx, key); err != nil || string(got) != pem {
			t.Fatalf("Load = %q, %v; want the key back", got, err)
		}
		moved := "acme/ca/users/x/x.key"
		if err := db.PutTLSObject(ctx, moved, raw.Value); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, moved); err == nil {
			t.Error("a sealed key moved under another name opened")
		}
		if err := db.DeleteTLSObjects(ctx, moved); err != nil {
			t.Fatal(err)
		}
		legacy := "acme/ca/users/a/a.key"
		if err := db.PutTLSObject(ctx, legacy, []byte(pem)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Load(ctx, legacy); err != nil || string(got) != pem {
			t.Fatalf("a key stored in clear: Load = %q, %v", got, err)
		}
		if n, err := pipelines.SealStoredInClear(ctx, db, sealer); err != nil || n != 1 {
			t.Fatalf("SealStoredInClear = %d, %v; want the clear key sealed", n, err)
		}
		next, err := pipelines.NewSealer(bytes.Repeat([]byte{9}, 32))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipelines.RotateSecrets(ctx, db, sealer, next, nil); err != nil {
			t.Fatal(err)
		}
		rotated := NewStorage(db, next)
		for _, k := range []string{key, legacy} {
			if got, err := rotated.Load(ctx, k); err != nil || string(got) != pem {
				t.Errorf("after rotation, %s: %q, %v", k, got, err)
			}
		}
	})
}

// TestBucketStorage checks what keeping certificates in a bucket adds:
// every value is sealed there, bound to its key, so that neither a copy of
// the bucket nor writing to it gets anyone a key, a certificate Seedbed
// serves or a challenge it answers; the database's certificates are copied
// over once, without ordering them again; a key rotation re-seals them.
func TestBucketStorage(t *testing.T) {
	ctx := context.Background()
	area := testArea(t)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer := testSealer(t, 7)
	s, err := NewBucketStorage(area, db, sealer)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(t *testing.T, key string) []byte {
		t.Helper()
		o, err := (&bucketValues{objs: area}).GetTLSObject(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return o.Value
	}
	plant := func(t *testing.T, key string, v []byte) {
		t.Helper()
		if _, err := area.Put(ctx, key, bytes.NewReader(v), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}
	const (
		keyName  = "certificates/ca/api.example.com/api.example.com.key"
		crtName  = "certificates/ca/api.example.com/api.example.com.crt"
		tokenKey = "acme/ca/challenge_tokens/api.example.com.json"
		pemKey   = "-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n"
		pemCrt   = "-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n"
	)

	t.Run("every value sealed", func(t *testing.T) {
		for k, v := range map[string]string{keyName: pemKey, crtName: pemCrt} {
			if err := s.Store(ctx, k, []byte(v)); err != nil {
				t.Fatal(err)
			}
			if got := raw(t, k); bytes.Contains(got, []byte("BEGIN")) || !pipelines.IsSealed(string(got)) {
				t.Errorf("the bucket holds %q at %s, want it sealed", got, k)
			}
			if got, err := s.Load(ctx, k); err != nil || string(got) != v {
				t.Errorf("Load(%s) = %q, %v; want the value back", k, got, err)
			}
		}
		// Private keys are sealed as in the database: the same AAD.
		if _, err := sealer.Open(string(raw(t, keyName)), KeyAAD(keyName)); err != nil {
			t.Errorf("a key in the bucket does not open as one in the database would: %v", err)
		}
	})

	t.Run("what someone writing to the bucket plants is refused", func(t *testing.T) {
		other := testSealer(t, 8) // a secret key that is not Seedbed's
		foreign, err := other.Seal(pemKey, KeyAAD("acme/ca/users/x/x.key"))
		if err != nil {
			t.Fatal(err)
		}
		planted := map[string][]byte{
			"acme/ca/users/x/x.key":                   []byte(pemKey),                     // a key in clear
			"certificates/ca/evil.example.com/e.crt":  []byte(pemCrt),                     // a certificate in clear
			tokenKey:                                  []byte(`{"keyAuthorization":"x"}`), // a challenge answer
			"acme/ca/users/y/y.key":                   raw(t, keyName),                    // a sealed key moved
			"certificates/ca/other.example.com/o.key": []byte(foreign),                    // sealed under another secret key
		}
		for k, v := range planted {
			plant(t, k, v)
			if got, err := s.Load(ctx, k); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Load(%s) = %q, %v; want an error", k, got, err)
			}
		}
		if err := s.Store(ctx, "certificates/../sha256/ab/x", []byte("x")); err == nil {
			t.Error("a key with .. was stored")
		}
		if _, err := s.Load(ctx, "certificates/../../x"); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load of a key with ..: %v, want a refusal", err)
		}
		if err := s.Delete(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "certificates/ca/evil.example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "certificates/ca/other.example.com"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the database's certificates are copied once", func(t *testing.T) {
		fromDB := NewStorage(db, sealer)
		const legacy = "acme/ca/users/a/a.key" // stored in clear by an older Seedbed
		for k, v := range map[string]string{
			"certificates/ca/www.example.com/www.example.com.key":  pemKey,
			"certificates/ca/www.example.com/www.example.com.crt":  pemCrt,
			"certificates/ca/www.example.com/www.example.com.json": "{}",
			crtName: "an older certificate the bucket has a newer one of",
		} {
			if err := fromDB.Store(ctx, k, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.PutTLSObject(ctx, legacy, []byte(pemKey)); err != nil {
			t.Fatal(err)
		}
		lost, err := testSealer(t, 8).Seal(pemKey, KeyAAD("acme/ca/users/b/b.key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PutTLSObject(ctx, "acme/ca/users/b/b.key", []byte(lost)); err != nil {
			t.Fatal(err)
		}
		n, err := CopyMissing(ctx, fromDB, s)
		if n != 4 || !errors.Is(err, ErrNotCopied) || !strings.Contains(err.Error(), "acme/ca/users/b/b.key") {
			t.Fatalf("CopyMissing = %d, %v; want 4 copied and the key that does not open named", n, err)
		}
		for _, k := range []string{"certificates/ca/www.example.com/www.example.com.key", legacy} {
			if got, err := s.Load(ctx, k); err != nil || string(got) != pemKey {
				t.Errorf("copied %s: %q, %v", k, got, err)
			}
			if bytes.Contains(raw(t, k), []byte("secret")) {
				t.Errorf("%s reached the bucket in clear", k)
			}
		}
		if got, err := s.Load(ctx, crtName); err != nil || string(got) != pemCrt {
			t.Errorf("the bucket's newer certificate was replaced: %q, %v", got, err)
		}
		if _, err := db.GetTLSObject(ctx, legacy); err != nil {
			t.Errorf("the database's copy is gone: %v", err)
		}
		if n, err := CopyMissing(ctx, fromDB, s); n != 0 || !errors.Is(err, ErrNotCopied) {
			t.Errorf("CopyMissing again = %d, %v; want nothing copied", n, err)
		}
	})

	t.Run("a key rotation re-seals the bucket", func(t *testing.T) {
		oldKey, newKey := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
		from, err := pipelines.NewSealer(oldKey, newKey)
		if err != nil {
			t.Fatal(err)
		}
		to := testSealer(t, 9)
		ring, err := NewBucketStorage(area, db, from)
		if err != nil {
			t.Fatal(err)
		}
		infos, err := ring.values.TLSObjectsUnder(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		n, err := ring.Reseal(ctx, to)
		if err != nil || n != len(infos) {
			t.Fatalf("Reseal = %d, %v; want all %d values", n, err, len(infos))
		}
		if n, err := ring.Reseal(ctx, to); err != nil || n != 0 {
			t.Fatalf("Reseal again = %d, %v; want nothing left to do", n, err)
		}
		after, err := NewBucketStorage(area, db, to)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := after.Load(ctx, keyName); err != nil || string(got) != pemKey {
			t.Errorf("after rotation, Load = %q, %v", got, err)
		}
		if _, err := s.Load(ctx, keyName); err == nil {
			t.Error("the old key still opens a re-sealed value")
		}
		plant(t, "acme/ca/users/z/z.key", []byte(pemKey))
		if _, err := ring.Reseal(ctx, to); err == nil || !strings.Contains(err.Error(), "opens with neither key") {
			t.Errorf("Reseal of a value that does not open: %v, want an error", err)
		}
	})
}
