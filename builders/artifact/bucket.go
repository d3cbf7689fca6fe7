package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// BucketConfig says which bucket of which S3-compatible server keeps the
// artifacts, and where this machine keeps its copies of them.
type BucketConfig struct {
	// URL is s3://BUCKET or s3://BUCKET/PREFIX: artifacts are the
	// objects PREFIX/sha256/<hex[0:2]>/<hex>, the layout of Store.
	URL string
	// Endpoint is the server: http://host:port or https://host:port (a
	// bare host:port means https). Empty: AWS S3, s3.amazonaws.com.
	Endpoint string
	// Region of the bucket; empty lets the client ask the server.
	Region string
	// AccessKey and SecretKey sign the requests; both are required.
	AccessKey, SecretKey string
	// CacheDir keeps this machine's copies of the artifacts it stored or
	// fetched (a Store): the local target and deploy hooks unpack from
	// there, and a digest fetched once is not fetched again.
	CacheDir string
	// Transport carries the requests; nil: http.DefaultTransport's
	// settings.
	Transport http.RoundTripper
	// Now is the clock GC measures ages with; nil: time.Now. Objects'
	// times are the server's and cannot be set back, so a test that
	// needs them old moves this clock on instead.
	Now func() time.Time
}

// Bucket keeps artifacts in a bucket of an S3-compatible object store
// (AWS S3, MinIO, SeaweedFS, Garage, ...), so that several Seedbed
// processes on several machines share them. It fetches an artifact into
// its local cache, checking it against its digest, before unpacking it.
type Bucket struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ending in "/"
	location string // s3://bucket/prefix at endpoint, for messages
	cache    *Store
	now      func() time.Time
}

// Timeouts for the calls that have no context of their own (Has) and for
// checking the bucket when it is opened.
const (
	bucketHasTimeout  = 30 * time.Second
	bucketOpenTimeout = 30 * time.Second
)

// bucketName is what S3 accepts as a bucket name (the rules every
// S3-compatible server shares).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseBucketURL splits s3://BUCKET/PREFIX into the bucket and the prefix
// (empty, or ending in "/").
func ParseBucketURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("artifact store %q: want s3://BUCKET or s3://BUCKET/PREFIX (the server is --s3-endpoint)", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("artifact store %q: want s3://BUCKET/PREFIX without credentials or options; credentials go in SEEDBED_S3_ACCESS_KEY and SEEDBED_S3_SECRET_KEY, the server in --s3-endpoint", redactURL(raw))
	}
	if !bucketName.MatchString(u.Host) {
		return "", "", fmt.Errorf("artifact store %q: %q is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", raw, u.Host)
	}
	prefix = strings.Trim(u.Path, "/")
	for _, part := range strings.Split(prefix, "/") {
		if prefix != "" && (part == "" || part == "." || part == "..") {
			return "", "", fmt.Errorf("artifact store %q: the prefix %q has an empty, . or .. part", raw, prefix)
		}
	}
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// redactURL drops the user info of a URL someone put credentials in.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	return raw
}

// OpenBucket connects to the bucket cfg names, making it if it does not
// exist yet, and opens the local cache.
func OpenBucket(ctx context.Context, cfg BucketConfig) (*Bucket, error) {
	bucket, prefix, err := ParseBucketURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("artifact store %s needs credentials: set SEEDBED_S3_ACCESS_KEY and SEEDBED_S3_SECRET_KEY", cfg.URL)
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("artifact store " + cfg.URL + ": BucketConfig.CacheDir is required")
	}
	endpoint, secure, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("artifact store %s at %s: %w", cfg.URL, cfg.Endpoint, err)
	}
	cache, err := New(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("artifact cache for %s: %w", cfg.URL, err)
	}
	scheme := "https://"
	if !secure {
		scheme = "http://"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Bucket{client: client, bucket: bucket, prefix: prefix, cache: cache, now: cfg.Now,
		location: "s3://" + bucket + "/" + prefix + " at " + scheme + endpoint}

	ctx, cancel := context.WithTimeout(ctx, bucketOpenTimeout)
	defer cancel()
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w (check --s3-endpoint, the credentials and that the server is up)", b.location, err)
	}
	if !ok {
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("artifact store %s: the bucket does not exist and could not be made: %w (make it, or give credentials that may)", b.location, err)
		}
	}
	return b, nil
}

// parseEndpoint turns --s3-endpoint into minio's host:port and whether to
// use TLS.
func parseEndpoint(e string) (hostport string, secure bool, err error) {
	if e == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
		return "", false, fmt.Errorf("--s3-endpoint %q: want http://host:port or https://host:port, with no path or credentials", redactURL(e))
	}
	return u.Host, u.Scheme == "https", nil
}

// Location is the bucket, prefix and server, for messages.
func (b *Bucket) Location() string { return b.location }

// CacheDir is the folder of this machine's copies of the artifacts.
func (b *Bucket) CacheDir() string { return b.cache.Dir() }

// key is the object name of the artifact with hex digest h.
func (b *Bucket) key(h string) string {
	return b.prefix + "sha256/" + h[:2] + "/" + h
}

// Put stores the bytes of r in the local cache, which gives their digest,
// then in the bucket unless it holds them already; then it refreshes the
// object's time instead, as Store.Put does, so that GC leaves it.
func (b *Bucket) Put(ctx context.Context, r io.Reader) (digest string, size int64, err error) {
	digest, size, err = b.cache.Put(ctx, r)
	if err != nil {
		return "", 0, err
	}
	h, _ := ParseDigest(digest)
	key := b.key(h)
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	switch {
	case err == nil && info.Size == size:
		if err := b.refresh(ctx, key); err == nil {
			return digest, size, nil
		}
		// A server that cannot copy an object onto itself gets the
		// bytes again: a fresh upload has a fresh time too.
	case err != nil && !notFound(err):
		return "", 0, fmt.Errorf("store artifact %s in %s: %w", digest, b.location, err)
	}
	// Missing, or held with another size (damaged): upload.
	f, err := b.cache.Open(digest)
	if err != nil {
		return "", 0, fmt.Errorf("store artifact %s in %s: %w", digest, b.location, err)
	}
	defer f.Close()
	if _, err := b.client.PutObject(ctx, b.bucket, key, f, size, minio.PutObjectOptions{ContentType: "application/gzip"}); err != nil {
		return "", 0, fmt.Errorf("store artifact %s in %s: %w", digest, b.location, err)
	}
	return digest, size, nil
}

// refresh gives the object key a new modification time by copying it
// onto itself with new metadata (S3 refuses a copy that changes nothing).
func (b *Bucket) refresh(ctx context.Context, key string) error {
	_, err := b.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: b.bucket, Object: key, ReplaceMetadata: true,
			UserMetadata: map[string]string{"Seedbed-Refreshed": time.Now().UTC().Format(time.RFC3339Nano)}},
		minio.CopySrcOptions{Bucket: b.bucket, Object: key})
	return err
}

// notFound says whether err is S3's answer for a missing object.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || resp.Code == "NotFound" || resp.StatusCode == http.StatusNotFound
}

// Has says whether the bucket holds digest.
func (b *Bucket) Has(digest string) bool {
	h, err := ParseDigest(digest)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketHasTimeout)
	defer cancel()
	_, err = b.client.StatObject(ctx, b.bucket, b.key(h), minio.StatObjectOptions{})
	return err == nil
}

// Fetch makes sure the local cache holds digest: it downloads the object
// unless it is cached, and keeps it only if its bytes hash to digest. The
// error wraps fs.ErrNotExist when the bucket does not hold it and
// ErrDigestMismatch when its bytes were changed.
func (b *Bucket) Fetch(ctx context.Context, digest string) error {
	h, err := ParseDigest(digest)
	if err != nil {
		return err
	}
	if refresh(b.cache.path(h)) == nil {
		return nil // cached; Extract checks the copy again
	}
	obj, err := b.client.GetObject(ctx, b.bucket, b.key(h), minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("fetch artifact %s from %s: %w", digest, b.location, err)
	}
	defer obj.Close()
	// Stat sends the request: a missing object is told apart here.
	if _, err := obj.Stat(); notFound(err) {
		return fmt.Errorf("artifact %s is not in %s: %w", digest, b.location, fs.ErrNotExist)
	} else if err != nil {
		return fmt.Errorf("fetch artifact %s from %s: %w", digest, b.location, err)
	}
	if _, _, err := b.cache.put(ctx, obj, digest); err != nil {
		return fmt.Errorf("fetch artifact %s from %s: %w", digest, b.location, err)
	}
	return nil
}

// Extract fetches digest into the local cache (see Fetch) and unpacks it
// from there, as Store.Extract does.
func (b *Bucket) Extract(ctx context.Context, digest, destDir string) error {
	if err := b.Fetch(ctx, digest); err != nil {
		return err
	}
	return b.cache.Extract(ctx, digest, destDir)
}

// Open fetches digest into the local cache (see Fetch) and opens the
// copy there.
func (b *Bucket) Open(ctx context.Context, digest string) (io.ReadCloser, error) {
	if err := b.Fetch(ctx, digest); err != nil {
		return nil, err
	}
	return b.cache.Open(digest)
}

// GC removes from the bucket the artifacts keep does not hold and that no
// one stored within grace, by the objects' modification times, then
// prunes the local cache by the same rules. The result counts the
// bucket's artifacts.
//
// Before it deletes an object it asks for its time again, so that a Put
// that refreshed it since the listing keeps it; what is left is the
// moment between that check and the delete, where a Put's refresh is
// lost and its artifact removed. Grace longer than the longest build
// (the default) means no build still waits to name an artifact that old,
// and a deploy of a release whose artifact is gone fails and says so.
func (b *Bucket) GC(ctx context.Context, keep func(digest string) bool, grace time.Duration, dryRun bool) (GCResult, error) {
	var res GCResult
	now := b.now()
	cutoff := now.Add(-grace)
	root := b.prefix + "sha256/"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if obj.Err != nil {
			return res, fmt.Errorf("collect artifacts in %s: %w", b.location, obj.Err)
		}
		rest := strings.TrimPrefix(obj.Key, root)
		fan, name, ok := strings.Cut(rest, "/")
		digest := DigestPrefix + name
		if _, err := ParseDigest(digest); err != nil || !ok || fan != name[:2] {
			continue // not ours
		}
		if keep(digest) || obj.LastModified.After(cutoff) {
			res.Kept++
			continue
		}
		if !dryRun {
			removed, err := b.removeIfStale(ctx, obj.Key, cutoff)
			if err != nil {
				return res, err
			}
			if !removed {
				res.Kept++
				continue
			}
		}
		res.Removed++
		res.Bytes += obj.Size
		res.Digests = append(res.Digests, digest)
	}
	// The cache's files have this machine's times: the same cutoff.
	if _, err := b.cache.GC(ctx, keep, grace-now.Sub(time.Now()), dryRun); err != nil {
		return res, fmt.Errorf("prune the artifact cache of %s: %w", b.location, err)
	}
	return res, nil
}

// removeIfStale deletes the object key unless a Put refreshed it after
// the listing.
func (b *Bucket) removeIfStale(ctx context.Context, key string, cutoff time.Time) (bool, error) {
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("collect artifact %s in %s: %w", key, b.location, err)
	}
	if info.LastModified.After(cutoff) {
		return false, nil
	}
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return false, fmt.Errorf("collect artifact %s in %s: %w", key, b.location, err)
	}
	return true, nil
}

// ObjectInfo is what the bucket says of one object of an Area.
type ObjectInfo struct {
	Size     int64
	ETag     string // changes whenever the object is written again
	Modified time.Time
}

// Area is a part of the bucket beside the artifacts, under a prefix of
// its own, for other things several Seedbed machines share through the
// same bucket (build caches, certificates). Object names are relative
// paths: one with an empty, "." or ".." part is refused, so that no name
// reaches out of the Area. GC never lists it: what is kept there is
// its owner's to manage.
type Area struct {
	b      *Bucket
	prefix string // ends in "/"
}

// Area returns the part of the bucket under PREFIX/name/. name must not
// be "sha256", the artifacts' own.
func (b *Bucket) Area(name string) *Area {
	return &Area{b: b, prefix: b.prefix + strings.Trim(name, "/") + "/"}
}

// Location names the object name for messages: s3://bucket/prefix/name
// at the server.
func (a *Area) Location(name string) string {
	_, server, _ := strings.Cut(a.b.location, " at ")
	return "s3://" + a.b.bucket + "/" + a.prefix + name + " at " + server
}

// Stat asks for the object name without its bytes. The error wraps
// fs.ErrNotExist when there is none.
func (a *Area) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := checkName(name, false); err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	info, err := a.b.client.StatObject(ctx, a.b.bucket, a.prefix+name, minio.StatObjectOptions{})
	if notFound(err) {
		return ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), fs.ErrNotExist)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	return ObjectInfo{Size: info.Size, ETag: info.ETag, Modified: info.LastModified}, nil
}

// Get opens the object name for reading; the info is of the bytes the
// reader returns, even when the object was replaced since a Stat. The
// error wraps fs.ErrNotExist when there is none.
func (a *Area) Get(ctx context.Context, name string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkName(name, false); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	obj, err := a.b.client.GetObject(ctx, a.b.bucket, a.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	// Stat sends the request and reads the answer's headers.
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		if notFound(err) {
			return nil, ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), fs.ErrNotExist)
		}
		return nil, ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	return obj, ObjectInfo{Size: info.Size, ETag: info.ETag, Modified: info.LastModified}, nil
}

// Put writes size bytes of r as the object name, replacing what was
// there: the last writer wins.
func (a *Area) Put(ctx context.Context, name string, r io.Reader, size int64) (ObjectInfo, error) {
	if err := checkName(name, false); err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	up, err := a.b.client.PutObject(ctx, a.b.bucket, a.prefix+name, r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s: %w", a.Location(name), err)
	}
	return ObjectInfo{Size: up.Size, ETag: up.ETag, Modified: up.LastModified}, nil
}

// checkName refuses an object name that is not a plain relative path:
// empty, with an empty, "." or ".." part, a backslash or a control
// character. S3 keeps such names as they are, but servers that map names
// onto a file tree (SeaweedFS's filer) may resolve them, and a name that
// resolves out of the Area reaches the artifacts or another Area. With
// folder, name may be "" (the whole Area) or end in "/".
func checkName(name string, folder bool) error {
	rest := name
	if folder {
		if name == "" {
			return nil
		}
		rest = strings.TrimSuffix(name, "/")
	}
	for part := range strings.SplitSeq(rest, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("object name %q has an empty, . or .. part", name)
		}
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("object name %q holds a backslash or a control character", name)
	}
	return nil
}

// AreaObject is one object of an Area a listing found, by its name in the
// Area; listed without recursion, a name ending in "/" is a folder of
// objects, with no info.
type AreaObject struct {
	Name string
	ObjectInfo
}

// List returns the objects whose names start with prefix, in the order
// of their names: with recursive, every one; without, those right under
// prefix and the folders there (names ending in "/"). prefix is "" (the
// whole Area), a folder ("certificates/") or the start of names.
func (a *Area) List(ctx context.Context, prefix string, recursive bool) ([]AreaObject, error) {
	if err := checkName(prefix, true); err != nil {
		return nil, fmt.Errorf("list %s: %w", a.Location(prefix), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	var out []AreaObject
	for obj := range a.b.client.ListObjects(ctx, a.b.bucket, minio.ListObjectsOptions{Prefix: a.prefix + prefix, Recursive: recursive}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list %s: %w", a.Location(prefix), obj.Err)
		}
		name, ok := strings.CutPrefix(obj.Key, a.prefix)
		if !ok || name == "" || (recursive && strings.HasSuffix(name, "/")) {
			continue // the Area itself, or a folder marker some servers keep
		}
		out = append(out, AreaObject{Name: name, ObjectInfo: ObjectInfo{Size: obj.Size, ETag: obj.ETag, Modified: obj.LastModified}})
	}
	slices.SortFunc(out, func(x, y AreaObject) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// Delete removes the objects names; a name that is not there is no
// error.
func (a *Area) Delete(ctx context.Context, names ...string) error {
	for _, name := range names {
		if err := checkName(name, false); err != nil {
			return fmt.Errorf("delete %s: %w", a.Location(name), err)
		}
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		if err := a.b.client.RemoveObject(ctx, a.b.bucket, a.prefix+names[0], minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return fmt.Errorf("delete %s: %w", a.Location(names[0]), err)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs := make(chan minio.ObjectInfo, len(names))
	for _, name := range names {
		objs <- minio.ObjectInfo{Key: a.prefix + name}
	}
	close(objs)
	var errs []error
	for e := range a.b.client.RemoveObjects(ctx, a.b.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !notFound(e.Err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", a.Location(strings.TrimPrefix(e.ObjectName, a.prefix)), e.Err))
		}
	}
	return errors.Join(errs...)
}
