package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// WeedVersion is the SeaweedFS version the tests' S3 server is built from
// (.ci/install-weed builds it; keep the two the same).
const WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// S3Server is a real S3-compatible server (SeaweedFS's `weed server -s3`)
// on loopback, with one admin identity.
type S3Server struct {
	// Endpoint is http://127.0.0.1:PORT, for --s3-endpoint.
	Endpoint  string
	AccessKey string
	SecretKey string

	cmd  *exec.Cmd
	done chan error
	log  string
}

// WeedPath finds the weed program: $SEEDBED_TEST_WEED, weed on the PATH,
// or ~/.cache/seedbed-tools/weed-<WeedVersion> where .ci/install-weed
// builds it.
func WeedPath() (string, error) {
	if p := os.Getenv("SEEDBED_TEST_WEED"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "seedbed-tools", "weed-"+WeedVersion)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("weed (SeaweedFS) is not installed: run `bash .ci/install-weed` (builds it once into ~/.cache/seedbed-tools), or set SEEDBED_TEST_WEED")
}

// S3 starts an S3 server for t, stopped when t ends. Without weed the test
// is skipped, or fails under CI=true.
func S3(t testing.TB) *S3Server {
	t.Helper()
	weed, err := WeedPath()
	if err != nil {
		Unavailable(t, "an S3-compatible server", err)
	}
	s, err := StartS3(weed, t.TempDir())
	if err != nil {
		t.Fatalf("start S3 server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartS3 starts weed in dir (its data and log) on free loopback ports and
// waits until its S3 gateway answers. For a TestMain that shares one
// server between a package's tests; call Stop when done.
func StartS3(weed, dir string) (*S3Server, error) {
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	s := &S3Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		AccessKey: "seedbed" + randomHex(4),
		SecretKey: randomHex(20),
		log:       filepath.Join(dir, "weed.log"),
		done:      make(chan error, 1),
	}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, fmt.Errorf("start weed: %w", err)
	}
	defer logf.Close()
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	// Everything on loopback, every port chosen (gRPC ports otherwise
	// default to HTTP port + 10000), no usage reports sent anywhere.
	s.cmd = exec.Command(weed, "server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+dir, "-volume.max=200",
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64",
		"-master.port="+p(1), "-master.port.grpc="+p(2),
		"-volume.port="+p(3), "-volume.port.grpc="+p(4),
		"-filer.port="+p(5), "-filer.port.grpc="+p(6),
		"-s3", "-s3.port="+p(0), "-s3.port.grpc="+p(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-filer.localSocket="+filepath.Join(dir, "filer.sock"), "-s3.localSocket="+filepath.Join(dir, "s3.sock"),
	)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey, "HOME="+dir)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", weed, err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	if err := s.waitReady(90 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n--- weed log ---\n%s", err, s.tail())
	}
	return s, nil
}

// Client is a minio client signed in to the server.
func (s *S3Server) Client() (*minio.Client, error) {
	return minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
	})
}

// waitReady lists buckets until the server answers: its S3 port opens
// before the filer behind it is ready.
func (s *S3Server) waitReady(limit time.Duration) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("weed exited before its S3 gateway answered: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, last = c.ListBuckets(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("weed's S3 gateway at %s did not answer within %s: %v", s.Endpoint, limit, last)
}

// Stop ends the server and every process it started.
func (s *S3Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// tail is the end of the server's log, for a failure message.
func (s *S3Server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
