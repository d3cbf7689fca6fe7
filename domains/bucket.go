package domains

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/store"
)

// Objects is a folder of a bucket certificates can be kept in: the tls
// area of the --artifact-store bucket (an *artifact.Area). Names are
// relative paths, and one with a ".." part is refused; Get wraps
// fs.ErrNotExist for a missing object; Delete of a missing one is no
// error.
type Objects interface {
	Get(ctx context.Context, name string) (io.ReadCloser, artifact.ObjectInfo, error)
	Put(ctx context.Context, name string, r io.Reader, size int64) (artifact.ObjectInfo, error)
	List(ctx context.Context, prefix string, recursive bool) ([]artifact.AreaObject, error)
	Delete(ctx context.Context, names ...string) error
	// Location names an object, or with "" the folder, for messages.
	Location(name string) string
}

// maxValue is the most a stored value may hold: certificates, keys and
// ACME data are a few KiB, and a larger object in the bucket is not one
// Seedbed wrote.
const maxValue = 1 << 20

// bucketValues keeps a Storage's values as the objects of a bucket, one
// per key, named by the key.
type bucketValues struct {
	objs Objects
}

var _ Values = (*bucketValues)(nil)

// NewBucketStorage makes a Storage whose values are objects of objs and
// whose locks are locks' (the database's rows: S3 has no
// compare-and-swap every server honours). Every value is sealed with
// sealer, bound to its key: private keys as in the database (KeyAAD), so
// that a copy of the bucket alone does not let anyone impersonate a
// domain, and everything else too (ObjectAAD), so that someone who may
// only write to the bucket cannot plant a challenge answer, a
// certificate or an account that Seedbed would use. A value that does not
// open is an error, never used.
func NewBucketStorage(objs Objects, locks Locks, sealer Sealer) (*Storage, error) {
	if objs == nil || locks == nil || sealer == nil {
		return nil, errors.New("certificates in a bucket need the bucket, the database's locks and a sealer")
	}
	return newStorage(&bucketValues{objs: objs}, locks, sealer, true, objs.Location("")), nil
}

// PutTLSObject creates or replaces the object key.
func (b *bucketValues) PutTLSObject(ctx context.Context, key string, value []byte) error {
	if _, err := b.objs.Put(ctx, key, bytes.NewReader(value), int64(len(value))); err != nil {
		return fmt.Errorf("store TLS object: %w", err)
	}
	return nil
}

// GetTLSObject reads the object key; a missing one wraps fs.ErrNotExist.
func (b *bucketValues) GetTLSObject(ctx context.Context, key string) (store.TLSObject, error) {
	rc, info, err := b.objs.Get(ctx, key)
	if err != nil {
		return store.TLSObject{}, fmt.Errorf("load TLS object: %w", err)
	}
	defer rc.Close()
	if info.Size > maxValue {
		return store.TLSObject{}, fmt.Errorf("load TLS object %s: %d bytes, more than a certificate's %d", key, info.Size, maxValue)
	}
	v, err := io.ReadAll(io.LimitReader(rc, maxValue+1))
	if err != nil {
		return store.TLSObject{}, fmt.Errorf("load TLS object %s: %w", key, err)
	}
	if len(v) > maxValue {
		return store.TLSObject{}, fmt.Errorf("load TLS object %s: more than a certificate's %d bytes", key, maxValue)
	}
	return store.TLSObject{Key: key, Value: v, ModifiedAt: info.Modified}, nil
}

// TLSObjectsUnder lists the objects that are key itself or lie under it
// (key/…), by key; an empty key lists every one. One listing of the
// names starting with key, which the names that merely start like it
// (key.json beside key) are dropped from.
func (b *bucketValues) TLSObjectsUnder(ctx context.Context, key string) ([]store.TLSObjectInfo, error) {
	objs, err := b.objs.List(ctx, key, true)
	if err != nil {
		return nil, fmt.Errorf("list TLS objects under %s: %w", key, err)
	}
	var out []store.TLSObjectInfo
	for _, o := range objs {
		if key == "" || o.Name == key || strings.HasPrefix(o.Name, key+"/") {
			out = append(out, store.TLSObjectInfo{Key: o.Name, Size: o.Size, ModifiedAt: o.Modified})
		}
	}
	return out, nil
}

// DeleteTLSObjects removes the object key and every one under it.
func (b *bucketValues) DeleteTLSObjects(ctx context.Context, key string) error {
	infos, err := b.TLSObjectsUnder(ctx, key)
	if err != nil {
		return fmt.Errorf("delete TLS objects: %w", err)
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Key
	}
	if err := b.objs.Delete(ctx, names...); err != nil {
		return fmt.Errorf("delete TLS objects under %s: %w", key, err)
	}
	return nil
}

// ErrNotCopied is what CopyMissing's error wraps when it copied every
// value but those it could not open.
var ErrNotCopied = errors.New("values that do not open were left behind")

// copyLock is the lock CopyMissing holds, so that processes starting
// together do not all copy.
const copyLock = "seedbed_copy_certificates"

// CopyMissing copies to to every value from holds that to lacks, opening
// what from sealed and sealing it again as to does; values to holds
// already are left as they are (to's are the newer: it is where
// certificates are renewed once it is in use; after a switch back and
// forth they may be older, and are renewed in their window as usual). It is how an install that
// kept its certificates in the database moves them to the bucket
// without ordering them again: run at each start, it copies nothing once
// done but what was deleted from to while from still holds it (an
// expired certificate certmagic cleaned up comes back, to be cleaned up
// again), and from keeps its copies (switching back finds them, renewed if
// they are near their end). A value from cannot open is left behind and
// named in the error, after the others are copied: its certificate is
// obtained again, as it would be from the database.
func CopyMissing(ctx context.Context, from, to *Storage) (copied int, err error) {
	if err := to.Lock(ctx, copyLock); err != nil {
		return 0, fmt.Errorf("copy certificates to %s: %w", to, err)
	}
	defer func() { _ = to.Unlock(ctx, copyLock) }() // failing, the row expires
	src, err := from.values.TLSObjectsUnder(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("copy certificates from %s: %w", from, err)
	}
	dst, err := to.values.TLSObjectsUnder(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("copy certificates to %s: %w", to, err)
	}
	have := make(map[string]bool, len(dst))
	for _, in := range dst {
		have[in.Key] = true
	}
	var skipped []error
	for _, in := range src {
		if have[in.Key] {
			continue
		}
		v, err := from.Load(ctx, in.Key)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		if err := to.Store(ctx, in.Key, v); err != nil {
			return copied, fmt.Errorf("copy certificates to %s: %w", to, err)
		}
		copied++
	}
	if len(skipped) > 0 {
		return copied, fmt.Errorf("copy certificates from %s: %w (%d): %w", from, ErrNotCopied, len(skipped), errors.Join(skipped...))
	}
	return copied, nil
}

// Reseal seals every value of s again under to: the bucket's part of
// `seedbed secrets rotate-key` (the database's values are re-sealed with
// the rest of its secrets). s opens them with its sealer, which holds the
// old key and the new one; values to opens already are kept, so running
// it again after an interruption finishes the job. A value that opens
// with neither is an error, and the rotation must not complete: it
// would be lost. It returns how many values it sealed again.
func (s *Storage) Reseal(ctx context.Context, to Sealer) (int, error) {
	if !s.sealAll {
		return 0, fmt.Errorf("reseal %s: only a bucket's values are re-sealed here; the database's are with its secrets", s)
	}
	infos, err := s.values.TLSObjectsUnder(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("reseal certificates in %s: %w", s, err)
	}
	n := 0
	for _, in := range infos {
		o, err := s.values.GetTLSObject(ctx, in.Key)
		if err != nil {
			return n, fmt.Errorf("reseal certificates in %s: %w", s, err)
		}
		if _, err := to.Open(string(o.Value), aadOf(in.Key)); err == nil {
			continue // under the new key already
		}
		plain, err := s.sealer.Open(string(o.Value), aadOf(in.Key))
		if err != nil {
			return n, fmt.Errorf("reseal certificates in %s: %s opens with neither key: %w", s, in.Key, err)
		}
		sealed, err := to.Seal(plain, aadOf(in.Key))
		if err != nil {
			return n, fmt.Errorf("reseal %s: %w", in.Key, err)
		}
		if err := s.values.PutTLSObject(ctx, in.Key, []byte(sealed)); err != nil {
			return n, fmt.Errorf("reseal certificates in %s: %w", s, err)
		}
		n++
	}
	return n, nil
}
