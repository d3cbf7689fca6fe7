package domains

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/seedbed/seedbed/store"
)

// Values is where a Storage keeps its values, under slash-separated
// keys: the database (a *store.Store), or a bucket (bucketValues). A
// missing key's error wraps store.ErrNotFound or fs.ErrNotExist.
type Values interface {
	PutTLSObject(ctx context.Context, key string, value []byte) error
	GetTLSObject(ctx context.Context, key string) (store.TLSObject, error)
	TLSObjectsUnder(ctx context.Context, key string) ([]store.TLSObjectInfo, error)
	DeleteTLSObjects(ctx context.Context, key string) error
}

// Locks are named locks that expire unless extended: rows of the
// database, wherever the values are.
type Locks interface {
	TryLockTLS(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ExtendTLSLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	UnlockTLS(ctx context.Context, name, owner string) error
}

// ObjectStore is the part of the database certificates are kept in: values
// under slash-separated keys, and named locks that expire unless extended.
type ObjectStore interface {
	Values
	Locks
}

// Lock timing: a lock lives lockTTL unless its holder extends it, which it
// does every lockTTL/3 while it works; a process that dies holding one
// blocks the others for at most lockTTL. Waiters look again every lockPoll.
const (
	lockTTL  = time.Minute
	lockPoll = 500 * time.Millisecond
)

// Sealer encrypts private keys before they reach the database, as stage
// secrets and deploy keys are: a copy of the database alone does not let
// anyone impersonate an app's domains. aad binds a value to its key.
type Sealer interface {
	Seal(value, aad string) (string, error)
	Open(sealed, aad string) (string, error)
}

// Storage is certmagic's storage on the Seedbed database, or on the
// bucket of --artifact-store (NewBucketStorage): certificates, their
// keys, ACME accounts and challenge tokens of every process live in one
// place, so a certificate is obtained once and served by all, and an
// HTTP-01 challenge one process started can be answered by another. Its
// locks are rows of the database that expire, so that one process
// obtains a name's certificate at a time and a crashed one does not
// block the rest.
type Storage struct {
	values Values
	locks  Locks
	sealer Sealer // nil keeps private keys in clear (tests of the locks)
	// sealAll seals every value, not only private keys, and refuses one
	// that does not open (the bucket); otherwise a private key in clear
	// is one stored before sealing (the database).
	sealAll bool
	name    string // for certmagic's logs and errors: the database, or the bucket's folder
	owner   string // this Storage's name in lock rows

	mu     sync.Mutex
	leases map[string]context.CancelFunc // locks held, stopping their renewal
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// NewStorage makes a Storage on db that seals private keys (values under
// keys ending in ".key") with sealer. Each Storage holds locks in a name
// of its own: make one per process.
func NewStorage(db ObjectStore, sealer Sealer) *Storage {
	return newStorage(db, db, sealer, false, "seedbed-database")
}

// newStorage makes a Storage with values in one place and locks in
// another.
func newStorage(values Values, locks Locks, sealer Sealer, sealAll bool, name string) *Storage {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	host, _ := os.Hostname()
	return &Storage{values: values, locks: locks, sealer: sealer, sealAll: sealAll, name: name,
		owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b)), leases: map[string]context.CancelFunc{}}
}

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if s.sealer != nil && (s.sealAll || isPrivateKey(key)) {
		sealed, err := s.sealer.Seal(string(value), aadOf(key))
		if err != nil {
			return fmt.Errorf("seal %s: %w", key, err)
		}
		value = []byte(sealed)
	}
	return s.values.PutTLSObject(ctx, key, value)
}

// isPrivateKey tells the keys certmagic keeps private keys under: a
// certificate's ("certificates/CA/NAME/NAME.key") and an ACME account's.
func isPrivateKey(key string) bool { return strings.HasSuffix(key, ".key") }

// KeyAAD is what a sealed private key is bound to: its key. The secrets
// rotation (pipelines.TLSKeyAAD) must agree.
func KeyAAD(key string) string { return "tls-key:" + key }

// ObjectAAD is what a sealed value other than a private key is bound to
// in a bucket, where every value is sealed: its key.
func ObjectAAD(key string) string { return "tls-object:" + key }

// aadOf is what the value at key is sealed with.
func aadOf(key string) string {
	if isPrivateKey(key) {
		return KeyAAD(key)
	}
	return ObjectAAD(key)
}

// Load reads the value at key; a missing key is fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	o, err := s.values.GetTLSObject(ctx, key)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if s.sealer == nil || (!s.sealAll && (!isPrivateKey(key) || bytes.HasPrefix(o.Value, []byte("-----BEGIN")))) {
		// In the database, a key stored in clear before sealing: serve
		// start seals it (pipelines.SealStoredInClear). A bucket never
		// held values in clear, so there one is refused below: it was
		// put there by someone without the secret key.
		return o.Value, nil
	}
	plain, err := s.sealer.Open(string(o.Value), aadOf(key))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return []byte(plain), nil
}

// Delete removes key and everything under it; a missing key is no error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.values.DeleteTLSObjects(ctx, key)
}

// Exists tells whether key holds a value or has values under it.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	infos, err := s.values.TLSObjectsUnder(ctx, key)
	return err == nil && len(infos) > 0
}

// List returns the keys under path: with recursive, every value and every
// "directory" between path and them; without, the names right under path.
// A path with nothing under it is fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	infos, err := s.values.TLSObjectsUnder(ctx, path)
	if err != nil {
		return nil, err
	}
	prefix := path
	if prefix != "" {
		prefix += "/"
	}
	seen := map[string]bool{}
	for _, in := range infos {
		rest, ok := strings.CutPrefix(in.Key, prefix)
		if !ok || rest == "" {
			continue // path itself is a value, not a directory
		}
		parts := strings.Split(rest, "/")
		if !recursive {
			seen[prefix+parts[0]] = true
			continue
		}
		for i := range parts {
			seen[prefix+strings.Join(parts[:i+1], "/")] = true
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Stat tells about key: a value, or a directory of values.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	infos, err := s.values.TLSObjectsUnder(ctx, key)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	for _, in := range infos {
		if in.Key == key {
			return certmagic.KeyInfo{Key: key, Modified: in.ModifiedAt, Size: in.Size, IsTerminal: true}, nil
		}
	}
	if len(infos) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	var newest time.Time
	for _, in := range infos {
		if in.ModifiedAt.After(newest) {
			newest = in.ModifiedAt
		}
	}
	return certmagic.KeyInfo{Key: key, Modified: newest, IsTerminal: false}, nil
}

// Lock waits until this process holds the lock called name, or ctx ends.
// While held, the lock is extended in the background until Unlock.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// TryLock takes the lock called name if it is free, and tells whether it
// did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	ok, err := s.locks.TryLockTLS(ctx, name, s.owner, lockTTL)
	if err != nil || !ok {
		return false, err
	}
	leaseCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	if old := s.leases[name]; old != nil {
		old() // a lease of ours that expired and was taken again
	}
	s.leases[name] = stop
	s.mu.Unlock()
	go s.keepLease(leaseCtx, name)
	return true, nil
}

// keepLease extends a held lock until ctx ends.
func (s *Storage) keepLease(ctx context.Context, name string) {
	t := time.NewTicker(lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A failed extension is tried again at the next tick; the
			// lock expires only if every try in lockTTL fails.
			_, _ = s.locks.ExtendTLSLock(ctx, name, s.owner, lockTTL)
		}
	}
}

// RenewLockLease extends a held lock to last leaseDuration from now.
func (s *Storage) RenewLockLease(ctx context.Context, name string, leaseDuration time.Duration) error {
	ok, err := s.locks.ExtendTLSLock(ctx, name, s.owner, leaseDuration)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("lock %s is no longer held by this process", name)
	}
	return nil
}

// Unlock lets go of the lock called name.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if stop := s.leases[name]; stop != nil {
		stop()
		delete(s.leases, name)
	}
	s.mu.Unlock()
	return s.locks.UnlockTLS(context.WithoutCancel(ctx), name, s.owner)
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return s.name }
