package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/testutil"
)

// An install that kept its certificates in the database moves to
// --artifact-store s3://… (a real SeaweedFS): the certificate the database
// holds is copied to the bucket and served from there without a new order
// (the same serial), its key sealed, not PEM; the renewal that follows is
// issued by the CA (Pebble) into the bucket, where every value is sealed,
// and a real TLS client gets it; the database keeps its older copy.
func TestCertificatesMoveToTheBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testutil.S3(t)
	s3c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	dns := testutil.StartDNS(t, map[string][]string{"console.test": {"127.0.0.1"}})
	consoleAddr, gatewayAddr, httpsAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	// Renewed half way through: long enough for the second start to
	// serve the first certificate, short enough to wait for.
	const validity = 80 * time.Second
	pebble := testutil.StartPebble(t, testutil.PebbleOptions{HTTPPort: portNumber(t, gatewayAddr), TLSPort: portNumber(t, httpsAddr), DNSServer: dns.Addr, Validity: validity})
	roots := pebble.IssuerRoots(t)
	const bucket, prefix = "seedbed-certs", "team/prod/"
	dir := t.TempDir()
	config := func(artifactStore string) Config {
		return Config{
			Addr: consoleAddr, GatewayAddr: gatewayAddr, PublicURL: "http://" + consoleAddr, DataDir: dir,
			DatabaseURL: filepath.Join(dir, "seedbed.db"), Domain: "localhost",
			Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
			BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: true,
			ArtifactStore: artifactStore, S3Endpoint: srv.Endpoint, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey,
			HTTPS: HTTPSConfig{Addr: httpsAddr, CA: pebble.DirectoryURL, CARootFile: pebble.ServerRootFile,
				ConsoleDomain: "console.test", PublicIPList: "127.0.0.1", Resolver: dns.Resolver(),
				RenewCheckInterval: 2 * time.Second, SyncInterval: 2 * time.Second, RenewalWindowRatio: 0.5},
		}
	}
	served := func() (*x509.Certificate, error) {
		chain, err := testutil.ServedChain(ctx, httpsAddr, "console.test", roots)
		if err != nil {
			return nil, err
		}
		return chain[0], nil
	}

	// First, certificates in the database.
	a := bootApp(t, config(""))
	var first *x509.Certificate
	waitFor(t, 90*time.Second, "console.test's certificate from the database", func() (err error) {
		first, err = served()
		return err
	})
	a.Close(ctx)

	// Then in the bucket.
	b := bootApp(t, config("s3://"+bucket+"/"+prefix))
	var got *x509.Certificate
	waitFor(t, 30*time.Second, "console.test's certificate after the move", func() (err error) {
		got, err = served()
		return err
	})
	if got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("after the move, console.test is served certificate %x, want %x from the database: it was ordered again", got.SerialNumber, first.SerialNumber)
	}
	if time.Until(first.NotAfter) < validity/2-5*time.Second {
		t.Logf("the second start came late (%s left of the first certificate): the same serial is proven, the renewal may follow at once", time.Until(first.NotAfter))
	}
	resp, err := httpsClient(httpsAddr, roots).Get("https://console.test:" + strconv.Itoa(portNumber(t, httpsAddr)) + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `type="password"`) {
		t.Fatalf("the console over HTTPS after the move: %s %q", resp.Status, body)
	}

	// What the bucket holds: the certificate and its key under
	// PREFIX/tls/, every value sealed.
	objects := map[string][]byte{}
	for obj := range s3c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + "tls/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		o, err := s3c.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := io.ReadAll(o)
		o.Close()
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			t.Logf("%s was listed, then gone (a challenge token of a finished order)", obj.Key)
			continue
		}
		if err != nil {
			t.Fatalf("read %s: %v", obj.Key, err)
		}
		objects[strings.TrimPrefix(obj.Key, prefix+"tls/")] = v
	}
	var crtKey, keyKey string
	for k, v := range objects {
		switch {
		case strings.HasSuffix(k, "/console.test/console.test.crt"):
			crtKey = k
		case strings.HasSuffix(k, "/console.test/console.test.key"):
			keyKey = k
		}
		if bytes.Contains(v, []byte("-----BEGIN")) || !pipelines.IsSealed(string(v)) {
			t.Errorf("the bucket holds %s unsealed: %.60q", k, v)
		}
	}
	names := slices.Sorted(maps.Keys(objects))
	t.Logf("the bucket holds under %stls/: %s", prefix, strings.Join(names, ", "))
	if crtKey == "" || keyKey == "" || !strings.HasPrefix(crtKey, "certificates/") {
		t.Fatalf("no certificate and key of console.test in the bucket under %stls/; it holds %d objects", prefix, len(objects))
	}

	// The renewal, while the bucket is in use, is issued into it.
	var renewed *x509.Certificate
	waitFor(t, validity, "the renewal of console.test", func() error {
		c, err := served()
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		renewed = c
		return nil
	})
	sealer, _, err := loadSealer(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := openArtifacts(ctx, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	inBucket, err := domains.NewBucketStorage(certificateObjects(arts), b.store, sealer)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the renewed certificate in the bucket", func() error {
		c, err := leafAt(ctx, inBucket, crtKey)
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
			return errors.New("the bucket holds another certificate than the one served")
		}
		return nil
	})
	if _, err := inBucket.Load(ctx, keyKey); err != nil {
		t.Errorf("the key in the bucket does not open with the data dir's secret key: %v", err)
	}
	if c, err := leafAt(ctx, domains.NewStorage(b.store, sealer), crtKey); err != nil || c.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("the database's copy: %v; want the first certificate, untouched by the renewal", err)
	}
}

// leafAt parses the first certificate of the PEM chain at key.
func leafAt(ctx context.Context, s *domains.Storage, key string) (*x509.Certificate, error) {
	b, err := s.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New(key + " holds no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
