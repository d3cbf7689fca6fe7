//go:build image

package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/builders"
)

// This file checks a built image rather than the Dockerfile: `make image`
// (deploy/build-image.sh) builds one with buildah and runs
//
//	SEEDBED_IMAGE=seedbed:dev go test -tags image -run '^TestBuiltImage' ./deploy/
//
// The build tag keeps it out of `make test`, which has no image to check.

// buildah runs buildah on the storage build-image.sh uses and returns its
// output.
func buildah(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("buildah", append([]string{"--storage-driver", "vfs"}, args...)...)
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("buildah %s: %v\n%s%s", strings.Join(args, " "), err, out, cmd.Stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

// workingContainer is a working container of the image under test.
type workingContainer struct {
	t    *testing.T
	name string
}

// newContainer makes a working container of image, removed at cleanup.
func newContainer(t *testing.T, image string) workingContainer {
	t.Helper()
	name, err := buildah(t, "from", "--pull-never", "--quiet", image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := buildah(t, "rm", name); err != nil {
			t.Error(err)
		}
	})
	return workingContainer{t: t, name: name}
}

// run runs a shell script in the container with the image's environment,
// on the host's network, and returns its output.
func (c workingContainer) run(script string, env ...string) (string, error) {
	c.t.Helper()
	args := []string{"run", "--isolation", "chroot", "--network", "host"}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	return buildah(c.t, append(args, c.name, "--", "sh", "-c", script)...)
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBuiltImage(t *testing.T) {
	image := os.Getenv("SEEDBED_IMAGE")
	if image == "" {
		t.Skip("SEEDBED_IMAGE names no image: make image builds one and sets it")
	}
	ctr := newContainer(t, image)

	t.Run("seedbed runs", func(t *testing.T) {
		out, err := ctr.run("seedbed --help")
		if err != nil || !strings.Contains(out, "seedbed serve") {
			t.Fatalf("seedbed --help: %v\n%s", err, out)
		}
	})

	t.Run("every program the code runs is on the PATH", func(t *testing.T) {
		for _, prog := range append(programs(), "tini") {
			script := "command -v " + prog
			if strings.Contains(prog, " ") { // python3 -m pip
				script = prog + " --version"
			}
			out, err := ctr.run(script)
			if err != nil {
				t.Errorf("%s: %v", prog, err)
				continue
			}
			t.Logf("%s: %s", prog, out)
		}
	})

	t.Run("versions", func(t *testing.T) {
		node, err := ctr.run("node --version")
		if err != nil {
			t.Fatal(err)
		}
		major, _, _ := strings.Cut(strings.TrimPrefix(node, "v"), ".")
		want, _ := strconv.Atoi(builders.NodeTarget)
		if got, err := strconv.Atoi(major); err != nil || got < want {
			t.Errorf("node --version = %q, want Node.js %d or later (builders.NodeTarget)", node, want)
		}
		out, err := ctr.run("go version; echo npm $(npm --version); python3 --version; git --version; bwrap --version; pasta --version 2>&1 | head -n 1; tini --version")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %s\n%s", node, out)
	})

	// As the image starts: its ENTRYPOINT (tini) and seedbed serve, on
	// free ports of this machine rather than 8080 and 8081.
	t.Run("seedbed serve answers /healthz", func(t *testing.T) {
		raw, err := buildah(t, "inspect", "--type", "image", image)
		if err != nil {
			t.Fatal(err)
		}
		var img struct {
			OCIv1 struct {
				Config struct{ Entrypoint []string } `json:"config"`
			}
		}
		if err := json.Unmarshal([]byte(raw), &img); err != nil {
			t.Fatal(err)
		}
		entry := img.OCIv1.Config.Entrypoint
		if len(entry) == 0 {
			t.Fatalf("%s has no ENTRYPOINT", image)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		gw := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		script := fmt.Sprintf(`data=$(mktemp -d)
SEEDBED_DATA_DIR=$data %s serve --addr %s --gateway-addr %s >"$data/log" 2>&1 &
pid=$!
ok=1
for _ in $(seq 1 60); do
  if curl -fsS http://%s/healthz; then ok=0; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.5
done
echo; echo "--- serve's log"; cat "$data/log"
kill $pid; wait $pid
exit $ok`, strings.Join(entry, " "), addr, gw, addr)
		out, err := ctr.run(script)
		if err != nil {
			t.Fatalf("serve did not answer /healthz: %v", err)
		}
		t.Logf("%s", out)
	})

	// The image is where builds run: the builders' own tests build a Go,
	// Node, Python and static app inside it, with its tools.
	t.Run("builds run inside the image", func(t *testing.T) {
		dir := t.TempDir()
		bin := filepath.Join(dir, "builders.test")
		build := exec.Command("go", "test", "-c", "-o", bin, "../builders")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go test -c ../builders: %v\n%s", err, out)
		}
		for _, cp := range [][]string{{bin, "/src/builders/"}, {"../builders/testdata", "/src/builders/testdata"}} {
			if _, err := buildah(t, "copy", ctr.name, cp[0], cp[1]); err != nil {
				t.Fatal(err)
			}
		}
		tests := "^(TestBuildHelloApp|TestBuildRuntimes|TestBuildNodeInstall|TestBuildPython|TestBuildStatic)$"
		out, err := ctr.run("cd /src/builders && ./builders.test -test.v -test.count=1 -test.run '"+tests+"'", "CI=true")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", out)
	})
}
