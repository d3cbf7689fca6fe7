package builders

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/testutil"
)

// needTool returns the path of a program the test runs, skipping the test
// (failing it under CI=true) when the machine does not have it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.Unavailable(t, name, err)
	}
	return p
}

// buildStack parses dir's stack file and builds it as app 1 with cache
// key "test".
func buildStack(t *testing.T, b *Builder, dir string, log *testLog) ([]Output, error) {
	t.Helper()
	st, err := stack.ParseFile(dir)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	return b.BuildWith(context.Background(), BuildOptions{Dir: dir, Stack: st, CacheKey: "test", AppID: 1}, log)
}

// byFunction indexes outputs by "service/function".
func byFunction(outs []Output) map[string]Output {
	m := map[string]Output{}
	for _, o := range outs {
		m[o.Service+"/"+o.Function] = o
	}
	return m
}

// runIn runs a program in dir with this process's environment and
// returns its trimmed output.
func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// invokeNode calls a node lambda handler the way the Lambda runtime does:
// it requires the module (no extension) from the artifact's root and
// calls the export with an event.
func invokeNode(t *testing.T, root, handler, eventJSON string) string {
	t.Helper()
	node := needTool(t, "node")
	module, export, err := stack.SplitLambdaHandler("node", handler)
	if err != nil {
		t.Fatal(err)
	}
	script := `const m = require(require("node:path").resolve(process.argv[1]));
Promise.resolve(m[process.argv[2]](JSON.parse(process.argv[3]), {})).then((r) => console.log(JSON.stringify(r)));`
	return runIn(t, root, node, "-e", script, module, export, eventJSON)
}

// invokePython calls a python lambda handler with the artifact's root on
// sys.path, as LAMBDA_TASK_ROOT is.
func invokePython(t *testing.T, root, handler, eventJSON string) string {
	t.Helper()
	python := needTool(t, "python3")
	module, fn, err := stack.SplitLambdaHandler("python", handler)
	if err != nil {
		t.Fatal(err)
	}
	script := `import importlib, json, sys
sys.path.insert(0, ".")
m = importlib.import_module(sys.argv[1])
print(json.dumps(getattr(m, sys.argv[2])(json.loads(sys.argv[3]), None)))`
	return runIn(t, root, python, "-c", script, strings.ReplaceAll(module, "/", "."), fn, eventJSON)
}

func TestBuildRuntimes(t *testing.T) {
	b := setupBuilder(t)
	app := filepath.Join("testdata", "runtimes")
	log := &testLog{}
	outs, err := buildStack(t, b.builder, app, log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}
	got := byFunction(outs)
	var keys []string
	for _, o := range outs {
		keys = append(keys, o.Service+"/"+o.Function)
	}
	want := []string{"node-http/server", "node-js/hello", "node-js/hello-too", "node-ts/hello", "py-http/web", "py-lambda/hello", "site/pages"}
	if !slices.Equal(keys, want) {
		t.Fatalf("outputs for %q, want %q", keys, want)
	}
	mustLog(t, log, "seedbed", "Bundling server.js into server.js (esbuild, node20, CommonJS)")
	mustLog(t, log, "seedbed", "Bundling src/app.ts into src/app.js")
	mustLog(t, log, "seedbed", "$ rm -rf dist && mkdir -p dist")

	artifact := func(t *testing.T, key string, wantFiles ...string) string {
		t.Helper()
		dir := extract(t, b.store, got[key].Digest)
		if files := listFiles(t, dir); !slices.Equal(files, wantFiles) {
			t.Fatalf("artifact of %s holds %q, want %q", key, files, wantFiles)
		}
		return dir
	}
	read := func(t *testing.T, name string) string {
		t.Helper()
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	t.Run("node http: the server bundled into server.js, serving on $PORT", func(t *testing.T) {
		dir := artifact(t, "node-http/server", "package.json", "server.js")
		bundle := read(t, filepath.Join(dir, "server.js"))
		if strings.Contains(bundle, `require("./lib/greet")`) || !strings.Contains(bundle, "hello from ${who}") {
			t.Errorf("server.js does not hold lib/greet.js inlined:\n%s", bundle)
		}
		if pj := read(t, filepath.Join(dir, "package.json")); pj != nodePackageJSON {
			t.Errorf("package.json = %q, want %q", pj, nodePackageJSON)
		}
		node := needTool(t, "node")
		cmd := exec.Command(node, stack.NodeEntry(stack.Function{Kind: stack.KindHTTP, Handler: "server.js"}))
		cmd.Dir, cmd.Env = dir, os.Environ()
		if body := serveCmd(t, cmd, "/node"); body != "hello from node /node\n" {
			t.Errorf("GET /node = %q", body)
		}
	})

	t.Run("node lambda in JavaScript: index.js holds the bundle, index.handler runs unchanged", func(t *testing.T) {
		if got["node-js/hello"].Digest != got["node-js/hello-too"].Digest {
			t.Errorf("two functions of one handler got different artifacts")
		}
		dir := artifact(t, "node-js/hello", "index.js", "package.json")
		res := invokeNode(t, dir, "index.handler", `{"rawPath":"/node/js"}`)
		if want := `{"statusCode":200,"headers":{"content-type":"text/plain"},"body":"HELLO FROM /NODE/JS"}`; res != want {
			t.Errorf("handler returned %s, want %s", res, want)
		}
	})

	t.Run("node lambda in TypeScript: src/app.js holds the bundle, src/app.handler runs unchanged", func(t *testing.T) {
		dir := artifact(t, "node-ts/hello", "package.json", "src/app.js")
		bundle := read(t, filepath.Join(dir, "src", "app.js"))
		if strings.Contains(bundle, "not in the bundle") || strings.Contains(bundle, "interface ") {
			t.Errorf("src/app.js keeps unused code or types:\n%s", bundle)
		}
		res := invokeNode(t, dir, "src/app.handler", `{"rawPath":"/node/ts"}`)
		if want := `{"statusCode":200,"body":"hello from typescript at /node/ts"}`; res != want {
			t.Errorf("handler returned %s, want %s", res, want)
		}
	})

	t.Run("python lambda: the service folder without caches or venv, app.handler runs unchanged", func(t *testing.T) {
		dir := artifact(t, "py-lambda/hello", "app.py", "greeting/__init__.py")
		res := invokePython(t, dir, "app.handler", `{"rawPath": "/py/x"}`)
		if want := `{"statusCode": 200, "body": "hello from python at /py/x"}`; res != want {
			t.Errorf("handler returned %s, want %s", res, want)
		}
	})

	t.Run("python http: app.py serves on $PORT", func(t *testing.T) {
		dir := artifact(t, "py-http/web", "app.py")
		python := needTool(t, "python3")
		cmd := exec.Command(python, "app.py")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		if body := serveCmd(t, cmd, "/py"); body != "hello from python /py\n" {
			t.Errorf("GET /py = %q", body)
		}
	})

	t.Run("static: the output folder the build made", func(t *testing.T) {
		dir := artifact(t, "site/pages", "build.txt", "css/site.css", "index.html")
		if s := read(t, filepath.Join(dir, "build.txt")); s != "built by site\n" {
			t.Errorf("build.txt = %q", s)
		}
	})

	t.Run("same source in another folder gives the same digests", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "elsewhere")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyTree(app, other); err != nil {
			t.Fatal(err)
		}
		again, err := buildStack(t, b.builder, other, &testLog{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again, outs) {
			t.Errorf("second build = %+v\nfirst = %+v", again, outs)
		}
	})

	t.Run("the checkout is untouched", func(t *testing.T) {
		for _, p := range []string{"site/dist", "python-lambda/__pycache__", "python-lambda/.venv"} {
			if _, err := os.Stat(filepath.Join(app, p)); err == nil {
				t.Errorf("the build wrote %s into the checkout", p)
			}
		}
	})
}

func TestBuildNodeFailures(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.js": "module.exports = 'do not pack me';\n"})
	lambda := func(handler string) string {
		return "services:\n  api:\n    path: api\n    runtime: node\n    functions:\n      hello:\n        type: lambda\n        handler: " + handler + "\n        routes: [\"GET /hello\"]\n"
	}
	tests := []struct {
		name    string
		files   map[string]string
		symlink [2]string
		yml     string
		st      *stack.Stack
		env     []string
		wantErr string
		wantLog []logLine
	}{
		{
			name:    "TypeScript syntax error: file, line, column and message",
			files:   map[string]string{"api/src/app.ts": "export const handler = async (event: unknown) => {\n  const x = ;\n  return x;\n};\n"},
			yml:     lambda("src/app.handler"),
			wantErr: `build service api: function hello: bundle src/app.ts with esbuild: src/app.ts:2:13: Unexpected ";"`,
			wantLog: []logLine{{"stderr", `src/app.ts:2:13: error: Unexpected ";"`}},
		},
		{
			name:    "imports that do not resolve: every one in the log",
			files:   map[string]string{"api/index.js": "const a = require(\"./missing\");\nconst b = require(\"left-pad\");\nexports.handler = async () => a + b;\n"},
			yml:     lambda("index.handler"),
			wantErr: `bundle index.js with esbuild: index.js:1:19: Could not resolve "./missing" (and 1 more error, in the log)`,
			wantLog: []logLine{{"stderr", `index.js:1:19: error: Could not resolve "./missing"`}, {"stderr", `index.js:2:19: error: Could not resolve "left-pad" (You can mark the path "left-pad" as external`}},
		},
		{
			name:    "lambda handler's file missing",
			files:   map[string]string{"api/index.js": "exports.handler = async () => 1;\n"},
			yml:     lambda("app.handler"),
			wantErr: `function hello: handler "app.handler": none of app.js, app.mjs, app.cjs, app.ts, app.mts, app.cts is in the service folder after the build`,
		},
		{
			name:    "http entry file missing",
			files:   map[string]string{"api/index.js": "\n"},
			yml:     "services:\n  api:\n    path: api\n    runtime: node\n    functions:\n      web:\n        handler: src/server.ts\n        routes: [\"GET /\"]\n",
			wantErr: `function web: handler "src/server.ts" not found in the service folder after the build`,
		},
		{
			name:    "handler file is a symlink leading outside",
			files:   map[string]string{"api/README.md": "\n"},
			symlink: [2]string{"api/index.js", filepath.Join(outside, "secret.js")},
			yml:     lambda("index.handler"),
			wantErr: `function hello: handler "index.handler": index.js: it leads outside the repository`,
		},
		{
			name:    "invalid handler in a hand-made stack",
			files:   map[string]string{"api/index.js": "\n"},
			st:      &stack.Stack{Services: []stack.Service{{Name: "api", Path: "api", Runtime: "node", Functions: []stack.Function{{Name: "f", Kind: stack.KindLambda, Handler: "../index.handler"}}}}},
			wantErr: `function f: handler "../index.handler" leads outside the service folder`,
		},
		{
			name:    "package.json without npm on the machine",
			files:   map[string]string{"api/package.json": "{}\n", "api/index.js": "exports.handler = async () => 1;\n"},
			yml:     lambda("index.handler"),
			env:     []string{"PATH=/nonexistent"},
			wantErr: "build service api: the service has a package.json, but npm is not installed on this machine (npm not found in PATH /nonexistent); install Node.js and npm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			store := setupBuilder(t).store
			builder := New(Config{Artifacts: store, CacheDir: t.TempDir(), Env: append(buildEnv(t), tt.env...), WorkDir: work})
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			if tt.symlink[0] != "" {
				if err := os.Symlink(tt.symlink[1], filepath.Join(dir, tt.symlink[0])); err != nil {
					t.Fatal(err)
				}
			}
			st := tt.st
			if st == nil {
				var err error
				if st, err = stack.Parse([]byte(tt.yml)); err != nil {
					t.Fatalf("Parse: %v", err)
				}
			}
			log := &testLog{}
			outs, err := builder.Build(context.Background(), dir, st, log)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v\nwant it to contain %q\nlog:\n%s", err, tt.wantErr, log)
			}
			if outs != nil {
				t.Errorf("Build returned outputs %+v with an error", outs)
			}
			for _, l := range tt.wantLog {
				mustLog(t, log, l.stream, l.text)
			}
			if strings.Contains(log.String(), "do not pack me") {
				t.Errorf("a file outside the repository was read")
			}
			if left := leftovers(t, builder); len(left) > 0 {
				t.Errorf("workspaces left behind: %v", left)
			}
		})
	}
}

func TestBuildNodeInstall(t *testing.T) {
	needTool(t, "npm")
	tests := []struct {
		name    string
		files   map[string]string
		command string
	}{
		{
			name: "npm ci with a lockfile",
			files: map[string]string{
				"package.json":      `{"name": "api", "version": "1.0.0", "private": true}` + "\n",
				"package-lock.json": `{"name": "api", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": {"": {"name": "api", "version": "1.0.0"}}}` + "\n",
			},
			command: "$ npm ci",
		},
		{
			name:    "npm install without one",
			files:   map[string]string{"package.json": `{"name": "api", "version": "1.0.0", "private": true}` + "\n"},
			command: "$ npm install",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBuilder(t)
			cache := filepath.Join(t.TempDir(), "cache")
			builder := New(Config{Artifacts: b.store, CacheDir: cache, Env: buildEnv(t), WorkDir: b.workDir})
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			writeFiles(t, dir, map[string]string{
				"seedbed.yml": "services:\n  api:\n    path: .\n    runtime: node\n    functions:\n      hello:\n        type: lambda\n        handler: index.handler\n        routes: [\"GET /hello\"]\n",
				"index.js":    "exports.handler = async () => ({statusCode: 200, body: 'hi'});\n",
			})
			log := &testLog{}
			outs, err := buildStack(t, builder, dir, log)
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			mustLog(t, log, "seedbed", tt.command)
			if fi, err := os.Stat(filepath.Join(cache, "npm", "test")); err != nil || !fi.IsDir() {
				t.Errorf("npm did not use the app's cache %s: %v", filepath.Join(cache, "npm", "test"), err)
			}
			if files := listFiles(t, extract(t, b.store, outs[0].Digest)); !slices.Equal(files, []string{"index.js", "package.json"}) {
				t.Errorf("artifact holds %q, want the bundle alone", files)
			}
		})
	}
}

// TestNodeBundleSize logs the size of the node examples' artifacts next to
// what packing their whole service folders would give.
func TestNodeBundleSize(t *testing.T) {
	b := setupBuilder(t)
	app := filepath.Join("testdata", "runtimes")
	outs, err := buildStack(t, b.builder, app, &testLog{})
	if err != nil {
		t.Fatal(err)
	}
	got := byFunction(outs)
	for _, ex := range []struct{ key, folder string }{
		{"node-http/server", "node-http"},
		{"node-js/hello", "node-lambda-js"},
		{"node-ts/hello", "node-lambda-ts"},
	} {
		var n countWriter
		if err := packTo(&n, filepath.Join(app, ex.folder)); err != nil {
			t.Fatal(err)
		}
		bundled := got[ex.key].Size
		// No assertion: examples without dependencies gain nothing (the
		// bundle adds esbuild's module helpers); the win is node_modules.
		t.Logf("%s: bundled artifact %d B, service folder packed %d B (%.0f%%)", ex.key, bundled, n, 100*float64(bundled)/float64(n))
	}
}

func TestBuildPython(t *testing.T) {
	wheels := t.TempDir()
	writeWheel(t, wheels, "tinypkg", "1.0", "def shout(s):\n    return s.upper()\n")
	const yml = "services:\n  api:\n    path: api\n    runtime: python\n    functions:\n      hello:\n        type: lambda\n        handler: app.handler\n        routes: [\"GET /hello\"]\n"
	app := map[string]string{
		"seedbed.yml":          yml,
		"api/requirements.txt": "tinypkg==1.0\n",
		"api/app.py":           "import tinypkg\n\n\ndef handler(event, context):\n    return tinypkg.shout('hello')\n",
	}

	t.Run("requirements installed next to the code from a reachable index", func(t *testing.T) {
		needTool(t, "python3")
		b := setupBuilder(t)
		// A folder of wheels stands in for a package index.
		env := append(buildEnv(t), "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+wheels)
		builder := New(Config{Artifacts: b.store, CacheDir: t.TempDir(), Env: env, WorkDir: b.workDir})
		dir := t.TempDir()
		writeFiles(t, dir, app)
		log := &testLog{}
		outs, err := buildStack(t, builder, dir, log)
		if err != nil {
			t.Fatalf("Build: %v\nlog:\n%s", err, log)
		}
		mustLog(t, log, "seedbed", "$ "+PipInstall)
		root := extract(t, b.store, outs[0].Digest)
		files := listFiles(t, root)
		for _, f := range files {
			if strings.Contains(f, "__pycache__") || strings.HasSuffix(f, ".pyc") {
				t.Errorf("artifact holds bytecode %s", f)
			}
		}
		for _, want := range []string{"app.py", "requirements.txt", "tinypkg/__init__.py", "tinypkg-1.0.dist-info/METADATA"} {
			if !slices.Contains(files, want) {
				t.Errorf("artifact lacks %s; it holds %q", want, files)
			}
		}
		if res := invokePython(t, root, "app.handler", "{}"); res != `"HELLO"` {
			t.Errorf("handler returned %s", res)
		}
		again, err := buildStack(t, builder, dir, &testLog{})
		if err != nil {
			t.Fatal(err)
		}
		if again[0].Digest != outs[0].Digest {
			t.Errorf("building again gave %s, first %s", again[0].Digest, outs[0].Digest)
		}
	})

	for _, tc := range []struct{ retries, why string }{
		{"1", "pip: connection refused"},                           // pip says why when it retries
		{"0", "dial tcp 127.0.0.1:1: connect: connection refused"}, // else the builder finds out
	} {
		t.Run("no package index reachable: a clear error, PIP_RETRIES="+tc.retries, func(t *testing.T) {
			needTool(t, "python3")
			b := setupBuilder(t)
			env := append(buildEnv(t), "PIP_INDEX_URL=http://127.0.0.1:1/", "PIP_RETRIES="+tc.retries, "PIP_FIND_LINKS=")
			builder := New(Config{Artifacts: b.store, CacheDir: t.TempDir(), Env: env, WorkDir: b.workDir})
			dir := t.TempDir()
			writeFiles(t, dir, app)
			log := &testLog{}
			_, err := buildStack(t, builder, dir, log)
			want := "build service api: pip could not download tinypkg==1.0: no package index reachable from this machine; vendor the dependency into the service folder or configure PIP_INDEX_URL (" + tc.why + ")"
			if err == nil || err.Error() != want {
				t.Fatalf("Build error = %v\nwant %s\nlog:\n%s", err, want, log)
			}
			mustLog(t, log, "stderr", "No matching distribution found for tinypkg==1.0")
		})
	}

	tests := []struct {
		name    string
		files   map[string]string
		env     []string
		wantErr string
	}{
		{
			name:    "requirements.txt without python3 on the machine",
			files:   app,
			env:     []string{"PATH=/nonexistent"},
			wantErr: "build service api: the service has a requirements.txt, but python3 is not installed on this machine (python3 not found in PATH /nonexistent); install Python 3 with pip",
		},
		{
			name:    "lambda handler's module missing",
			files:   map[string]string{"seedbed.yml": yml, "api/main.py": "\n"},
			wantErr: `build service api: function hello: handler "app.handler": app.py or app/__init__.py is not in the service folder after the build`,
		},
		{
			name:    "http entry file missing",
			files:   map[string]string{"seedbed.yml": "services:\n  api:\n    path: api\n    runtime: python\n    functions:\n      web:\n        handler: server.py\n        routes: [\"GET /\"]\n", "api/app.py": "\n"},
			wantErr: `function web: handler "server.py": server.py is not in the service folder after the build`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBuilder(t)
			builder := New(Config{Artifacts: b.store, CacheDir: t.TempDir(), Env: append(buildEnv(t), tt.env...), WorkDir: b.workDir})
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			log := &testLog{}
			if _, err := buildStack(t, builder, dir, log); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v\nwant it to contain %q\nlog:\n%s", err, tt.wantErr, log)
			}
		})
	}
}

func TestPipError(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		network string // what pipInstall found, if not in lines
		want    string
	}{
		{
			name: "DNS failure in pip's retry warnings",
			lines: []string{
				"WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(': Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/requests/",
				"ERROR: No matching distribution found for requests",
			},
			want: "pip could not download requests: no package index reachable from this machine; vendor the dependency into the service folder or configure PIP_INDEX_URL (pip: name or service not known)",
		},
		{
			name:  "network failure without a package named",
			lines: []string{"ERROR: Could not install packages due to an OSError: ... [Errno 101] Network is unreachable"},
			want:  "pip could not download the packages in requirements.txt: no package index reachable from this machine; vendor the dependency into the service folder or configure PIP_INDEX_URL (pip: network is unreachable)",
		},
		{
			name:    "index found unreachable by the builder",
			lines:   []string{"ERROR: No matching distribution found for flask"},
			network: "dial tcp 10.0.0.1:443: i/o timeout",
			want:    "pip could not download flask: no package index reachable from this machine; vendor the dependency into the service folder or configure PIP_INDEX_URL (dial tcp 10.0.0.1:443: i/o timeout)",
		},
		{
			name:  "no such package on a reachable index",
			lines: []string{"ERROR: Could not find a version that satisfies the requirement nosuchpkg (from versions: none)", "ERROR: No matching distribution found for nosuchpkg"},
			want:  "pip found no distribution of nosuchpkg on its package index; check requirements.txt (name, version, Python version): exit 1",
		},
		{
			name:  "anything else",
			lines: []string{"ERROR: Invalid requirement: '!!'"},
			want:  "pip could not install requirements.txt (its output is in the log above): exit 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network := tt.network
			if network == "" {
				network = pipNetworkFailure(tt.lines)
			}
			if got := pipError(tt.lines, network, errString("exit 1")).Error(); got != tt.want {
				t.Errorf("pipError = %q\nwant %q", got, tt.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestBuildStatic(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.txt": "do not pack me\n"})
	site := func(extra string) string {
		return "services:\n  site:\n    path: site\n    runtime: static\n" + extra + "    functions:\n      pages:\n        routes: [\"GET /{file+}\"]\n"
	}
	files := map[string]string{"site/index.html": "<h1>hi</h1>\n", "site/src/app.js": "console.log(1)\n"}
	tests := []struct {
		name      string
		yml       string
		st        *stack.Stack
		wantErr   string
		wantFiles []string
	}{
		{
			name:      "no output: the service folder",
			yml:       site(""),
			wantFiles: []string{"index.html", "src/app.js"},
		},
		{
			name:      "output folder made by the build",
			yml:       site("    build: mkdir -p out/js && cp index.html out/ && cp src/app.js out/js/\n    output: out\n"),
			wantFiles: []string{"index.html", "js/app.js"},
		},
		{
			name:    "output folder missing",
			yml:     site("    build: \"true\"\n    output: dist\n"),
			wantErr: `build service site: output folder "dist" does not exist after the build; the build command must write the site there, or fix output in seedbed.yml`,
		},
		{
			name:    "output folder empty",
			yml:     site("    build: mkdir -p dist/assets\n    output: dist\n"),
			wantErr: `build service site: output folder "dist" is empty after the build; the build command must write the site's files there`,
		},
		{
			name:    "output is a file",
			yml:     site("    build: echo x > dist\n    output: dist\n"),
			wantErr: `output "dist" is a file, not a folder`,
		},
		{
			name:    "output folder is a symlink leading outside",
			yml:     site("    build: ln -s " + outside + " dist\n    output: dist\n"),
			wantErr: `output folder "dist": it leads outside the repository`,
		},
		{
			name:    "output escaping in a hand-made stack",
			st:      &stack.Stack{Services: []stack.Service{{Name: "site", Path: "site", Runtime: "static", Output: "../..", Functions: []stack.Function{{Name: "pages"}}}}},
			wantErr: `output "../.." is not a folder inside the service folder`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBuilder(t)
			dir := t.TempDir()
			writeFiles(t, dir, files)
			st := tt.st
			if st == nil {
				var err error
				if st, err = stack.Parse([]byte(tt.yml)); err != nil {
					t.Fatalf("Parse: %v", err)
				}
			}
			log := &testLog{}
			outs, err := b.builder.Build(context.Background(), dir, st, log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build error = %v\nwant it to contain %q\nlog:\n%s", err, tt.wantErr, log)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			if got := listFiles(t, extract(t, b.store, outs[0].Digest)); !slices.Equal(got, tt.wantFiles) {
				t.Errorf("artifact holds %q, want %q", got, tt.wantFiles)
			}
		})
	}
}

func TestBuildWithCacheKey(t *testing.T) {
	b := setupBuilder(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "hi\n"})
	st := &stack.Stack{Services: []stack.Service{{Name: "site", Path: ".", Runtime: "static", Functions: []stack.Function{{Name: "pages"}}}}}
	for _, key := range []string{"../up", ".hidden", "a/b", "-x", strings.Repeat("a", 129)} {
		_, err := b.builder.BuildWith(context.Background(), BuildOptions{Dir: dir, Stack: st, CacheKey: key}, &testLog{})
		if err == nil || !strings.Contains(err.Error(), "is not a plain name") {
			t.Errorf("BuildWith with cache key %q: error = %v, want it refused", key, err)
		}
	}
	for _, key := range []string{"shop", "my-app.v2", "A_1"} {
		if _, err := b.builder.BuildWith(context.Background(), BuildOptions{Dir: dir, Stack: st, CacheKey: key}, &testLog{}); err != nil {
			t.Errorf("BuildWith with cache key %q: %v", key, err)
		}
	}
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// packTo packs the whole of dir to w, as an artifact of it would be.
func packTo(w *countWriter, dir string) error {
	return artifact.Pack(w, dir, []string{"."})
}

// writeWheel writes a pure-Python wheel of package name into dir, the
// way a package index would serve it, with __init__.py as its code.
func writeWheel(t *testing.T, dir, name, version, initPy string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", name, version)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	info := fmt.Sprintf("%s-%s.dist-info", name, version)
	files := [][2]string{
		{name + "/__init__.py", initPy},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: seedbed-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, file := range files {
		sum := sha256.Sum256([]byte(file[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", file[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(file[1]))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	files = append(files, [2]string{info + "/RECORD", record.String()})
	for _, file := range files {
		w, err := zw.Create(file[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(file[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
