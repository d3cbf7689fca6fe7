package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		file string
		want *Stack
	}{
		{
			name: "monorepo with two services and stages",
			file: "valid.yml",
			want: &Stack{
				Services: []Service{
					{
						Name: "api", Path: "services/api", Runtime: "go",
						Hooks: Hooks{BeforeBuild: []string{"go vet ./...", "go test ./..."}, AfterDeploy: []string{"./smoke.sh"}},
						Functions: []Function{
							{
								Name: "hello", Kind: KindHTTP, Handler: "bootstrap",
								Routes:  []Route{{"GET", "/hello"}, {"ANY", "/hello/{proxy+}"}},
								Env:     map[string]string{"GREETING": "hi", "RETRIES": "3", "DEBUG": "true", "EMPTY": ""},
								Timeout: 10 * time.Second,
							},
							{Name: "world", Kind: KindHTTP, Handler: "bin/world", Routes: []Route{{"POST", "/hello"}, {"GET", "/users/{id}"}}},
						},
					},
					{
						Name: "web", Path: "services/web", Runtime: "process", Build: "npm ci && npm run build",
						Functions: []Function{
							{Name: "site", Kind: KindHTTP, Handler: "node server.js", Routes: []Route{{"GET", "/"}, {"ANY", "/assets/{file+}"}}, Memory: 256},
						},
					},
				},
				Stages: []StageSpec{{Name: "dev", Branch: "main"}, {Name: "staging"}, {Name: "prod", Approval: true}},
			},
		},
		{
			name: "minimal file: go handler defaults to bootstrap, no stages",
			file: "minimal.yml",
			want: &Stack{Services: []Service{{
				Name: "api", Path: ".", Runtime: "go",
				Functions: []Function{{Name: "hello", Kind: KindHTTP, Handler: "bootstrap", Routes: []Route{{"GET", "/hello"}}}},
			}}},
		},
		{
			name: "anchors and merge keys under an x- key",
			file: "anchors.yml",
			want: &Stack{Services: []Service{{
				Name: "api", Path: "services/api", Runtime: "go",
				Functions: []Function{{Name: "hello", Kind: KindHTTP, Handler: "bootstrap", Routes: []Route{{"GET", "/hello"}}}},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// wantProblem is one expected problem: its line, its field and a part of
// its message.
type wantProblem struct {
	line     int
	field    string
	contains string
}

func TestParseProblems(t *testing.T) {
	const api = "services:\n  api:\n    path: .\n    runtime: go\n    functions:\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "empty file",
			yaml: "# nothing yet\n",
			want: []wantProblem{{0, "", "the file is empty; declare your services, e.g. services:"}},
		},
		{
			name: "syntax error points at the mis-indented line",
			yaml: "services:\n  api:\n    path: .\n   runtime: go\n",
			want: []wantProblem{{4, "", "invalid YAML: did not find expected key"}},
		},
		{
			name: "tab indentation",
			yaml: "services:\n\tapi:\n",
			want: []wantProblem{{2, "", "invalid YAML: found character that cannot start any token"}},
		},
		{
			name: "two documents",
			yaml: "services: {}\n---\nstages: []\n",
			want: []wantProblem{{2, "", "a second YAML document"}},
		},
		{
			name: "root is a list",
			yaml: "- api\n",
			want: []wantProblem{{1, "", "must be a mapping"}},
		},
		{
			name: "typo in a top-level key",
			yaml: "service:\n  api: {}\n",
			want: []wantProblem{
				{0, "services", "no services declared"},
				{1, "service", `unknown top-level key "service"; did you mean "services"?; valid keys: queues, services, stages`},
			},
		},
		{
			name: "no services",
			yaml: "services: {}\n",
			want: []wantProblem{{1, "services", "no services declared; add at least one"}},
		},
		{
			name: "typo in a service key names the valid keys",
			yaml: "services:\n  api:\n    path: .\n    runtme: go\n    functions: {hello: {routes: [\"GET /hello\"]}}\n",
			want: []wantProblem{
				{2, "services.api.runtime", "runtime is missing; valid runtimes: go, node, python, static, process"},
				{4, "services.api.runtme", `unknown service key "runtme"; did you mean "runtime"?; valid keys: build, depends_on, functions, hooks, output, path, runtime`},
			},
		},
		{
			name: "typo in a function key",
			yaml: api + "      hello:\n        handlr: x\n        routes: [\"GET /hello\"]\n",
			want: []wantProblem{{7, "services.api.functions.hello.handlr", `did you mean "handler"?; valid keys: async, body_limit, concurrency, env, events, handler, idle_timeout, instances, memory, routes, timeout, type`}},
		},
		{
			name: "bad service and function names",
			yaml: "services:\n  My_API:\n    path: .\n    runtime: go\n    functions:\n      hello world: {routes: [\"GET /a\"]}\n      -x: {routes: [\"GET /b\"]}\n",
			want: []wantProblem{
				{2, "services.My_API", `service name "My_API" is not valid; use up to 63 lower-case letters`},
				{6, "services.My_API.functions.hello world", `function name "hello world" is not valid`},
				{7, "services.My_API.functions.-x", `function name "-x" is not valid`},
			},
		},
		{
			name: "service without path, runtime or functions",
			yaml: "services:\n  api:\n    build: make\n",
			want: []wantProblem{
				{2, "services.api.path", "path is missing; give the service's folder relative to the repository root"},
				{2, "services.api.runtime", "runtime is missing; valid runtimes: go, node, python, static, process"},
				{2, "services.api.functions", "no functions declared"},
			},
		},
		{
			name: "paths outside the repository",
			yaml: "services:\n  a:\n    path: /srv/app\n    runtime: go\n    functions: {f: {routes: [\"GET /a\"]}}\n  b:\n    path: ../../etc\n    runtime: go\n    functions: {f: {routes: [\"GET /b\"]}}\n  c:\n    path: x/../../y\n    runtime: go\n    functions: {f: {handler: ../up, routes: [\"GET /c\"]}}\n",
			want: []wantProblem{
				{3, "services.a.path", `"/srv/app" is absolute; give a folder relative to the repository root`},
				{7, "services.b.path", `"../../etc" leads outside the repository root`},
				{11, "services.c.path", `"x/../../y" leads outside the repository root`},
				{13, "services.c.functions.f.handler", `"../up" leads outside the service folder`},
			},
		},
		{
			name: "unknown runtime suggests the closest",
			yaml: "services:\n  api:\n    path: .\n    runtime: goo\n    functions: {hello: {routes: [\"GET /hello\"]}}\n",
			want: []wantProblem{{4, "services.api.runtime", `unknown runtime "goo" (did you mean "go"?); valid runtimes: go, node, python, static, process`}},
		},
		{
			name: "process function needs a handler",
			yaml: "services:\n  web:\n    path: web\n    runtime: process\n    functions:\n      site:\n        routes: [\"GET /\"]\n      blank:\n        handler: \"\"\n        routes: [\"GET /blank\"]\n",
			want: []wantProblem{
				{6, "services.web.functions.site.handler", "handler is missing; for runtime process it is the command that starts the function"},
				{9, "services.web.functions.blank.handler", "handler is empty"},
			},
		},
		{
			name: "route syntax",
			yaml: api + "      hello:\n        routes:\n" +
				"          - GET\n" +
				"          - FETCH /x\n" +
				"          - GET hello\n" +
				"          - GET /a/{rest+}/b\n" +
				"          - GET /a/{}\n" +
				"          - GET /a//b\n" +
				"          - GET /a{b}\n" +
				"          - GET /q?x=1\n" +
				"          - GET /u/{id}/v/{id}\n" +
				"          - [GET, /x]\n" +
				"          - GET /ok/{id}/{rest+}\n",
			want: []wantProblem{
				{8, "services.api.functions.hello.routes[0]", `route "GET" must be "METHOD /path", e.g. "GET /hello"`},
				{9, "services.api.functions.hello.routes[1]", `unknown method "FETCH" in route "FETCH /x"; valid methods: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY`},
				{10, "services.api.functions.hello.routes[2]", `the path must start with "/"`},
				{11, "services.api.functions.hello.routes[3]", `greedy parameter "{rest+}" must be the last segment`},
				{12, "services.api.functions.hello.routes[4]", `parameter "{}" must be {name}`},
				{13, "services.api.functions.hello.routes[5]", `empty segment`},
				{14, "services.api.functions.hello.routes[6]", `a parameter must be a whole segment`},
				{15, "services.api.functions.hello.routes[7]", `query`},
				{16, "services.api.functions.hello.routes[8]", `parameter {id} appears twice`},
				{17, "services.api.functions.hello.routes[9]", `must be a string`},
			},
		},
		{
			name: "routes must be a list",
			yaml: api + "      hello:\n        routes: GET /hello\n",
			want: []wantProblem{{7, "services.api.functions.hello.routes", `must be a list, e.g. ["GET /hello", "ANY /hello/{proxy+}"]`}},
		},
		{
			name: "duplicate routes across functions and services, ANY overlaps, parameter names ignored",
			yaml: api +
				"      a:\n        routes: [\"GET /hello\", \"GET /users/{id}\", \"POST /x\", \"POST /x\"]\n" +
				"      b:\n        routes: [\"get /hello\", \"DELETE /users/{uid}\", \"ANY /users/{name}\", \"GET /other\"]\n" +
				"  web:\n    path: web\n    runtime: process\n    functions:\n      site:\n        handler: ./site\n        routes: [\"ANY /hello\", \"GET /other/\"]\n",
			want: []wantProblem{
				{7, "services.api.functions.a.routes[3]", `route "POST /x" of function api/a overlaps "POST /x" of function api/a (line 7)`},
				{9, "services.api.functions.b.routes[0]", `route "GET /hello" of function api/b overlaps "GET /hello" of function api/a (line 7); each method and path may be served by one function only`},
				{9, "services.api.functions.b.routes[2]", `route "ANY /users/{name}" of function api/b overlaps "GET /users/{id}" of function api/a (line 7)`},
				{16, "services.web.functions.site.routes[0]", `route "ANY /hello" of function web/site overlaps "GET /hello" of function api/a (line 7)`},
			},
		},
		{
			name: "timeouts",
			yaml: api + "      a: {routes: [\"GET /a\"], timeout: 10}\n      b: {routes: [\"GET /b\"], timeout: 0s}\n      c: {routes: [\"GET /c\"], timeout: -1s}\n      d: {routes: [\"GET /d\"], timeout: 16m}\n      e: {routes: [\"GET /e\"], timeout: 15m}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.timeout", `timeout "10" is not a duration; write it like 10s, 500ms or 1m30s (at most 15m)`},
				{7, "services.api.functions.b.timeout", `timeout "0s" must be more than zero`},
				{8, "services.api.functions.c.timeout", `timeout "-1s" must be more than zero`},
				{9, "services.api.functions.d.timeout", `timeout "16m" is too long; it may be at most 15m`},
			},
		},
		{
			name: "idle timeouts and body limits",
			yaml: api + "      a: {routes: [\"GET /a\"], idle_timeout: 5}\n      b: {routes: [\"GET /b\"], idle_timeout: 2h}\n      c: {routes: [\"GET /c\"], body_limit: 0}\n      d: {routes: [\"GET /d\"], body_limit: 2048}\n      e: {routes: [\"GET /e\"], idle_timeout: 1h, body_limit: 1024}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.idle_timeout", `idle_timeout "5" is not a duration; write it like 90s or 5m (at most 1h)`},
				{7, "services.api.functions.b.idle_timeout", `idle_timeout "2h" is too long; it may be at most 1h`},
				{8, "services.api.functions.c.body_limit", `body_limit "0" must be a whole number of MiB between 1 and 1024`},
				{9, "services.api.functions.d.body_limit", `body_limit "2048" must be a whole number of MiB between 1 and 1024`},
			},
		},
		{
			name: "memory",
			yaml: api + "      a: {routes: [\"GET /a\"], memory: 0}\n      b: {routes: [\"GET /b\"], memory: -5}\n      c: {routes: [\"GET /c\"], memory: lots}\n      d: {routes: [\"GET /d\"], memory: 1.5}\n      e: {routes: [\"GET /e\"], memory: 128}\n",
			want: []wantProblem{
				{6, "services.api.functions.a.memory", `memory "0" must be a whole number of MiB`},
				{7, "services.api.functions.b.memory", `memory "-5" must be a whole number of MiB`},
				{8, "services.api.functions.c.memory", `memory "lots"`},
				{9, "services.api.functions.d.memory", `memory "1.5"`},
			},
		},
		{
			name: "env",
			yaml: api + "      a:\n        env: [A, B]\n        routes: [\"GET /a\"]\n      b:\n        routes: [\"GET /b\"]\n        env:\n          1X: y\n          PORT: 80\n          LIST: [1, 2]\n          OK: 1.5\n",
			want: []wantProblem{
				{7, "services.api.functions.a.env", `must be a mapping of keys to values, e.g. {GREETING: hi}; got a list`},
				{12, "services.api.functions.b.env.1X", `"1X" is not a valid variable name`},
				{13, "services.api.functions.b.env.PORT", `PORT is set by Seedbed`},
				{14, "services.api.functions.b.env.LIST", `must be a string, number or boolean, e.g. LIST: hi; got a list`},
			},
		},
		{
			name: "hooks",
			yaml: "services:\n  api:\n    path: .\n    runtime: go\n    hooks:\n      before_buld: [\"make\"]\n      after_build: make\n      before_deploy: [\"\", {a: b}]\n    functions: {hello: {routes: [\"GET /hello\"]}}\n",
			want: []wantProblem{
				{6, "services.api.hooks.before_buld", `unknown hook key "before_buld"; did you mean "before_build"?; valid keys: after_build, after_deploy, after_remove, before_build, before_deploy, before_remove`},
				{7, "services.api.hooks.after_build", `must be a list, e.g. ["go test ./..."]; got "make"`},
				{8, "services.api.hooks.before_deploy[0]", `is empty`},
				{8, "services.api.hooks.before_deploy[1]", `must be a string`},
			},
		},
		{
			name: "stages",
			yaml: "services:\n  api:\n    path: .\n    runtime: go\n    functions: {hello: {routes: [\"GET /hello\"]}}\nstages:\n" +
				"  - name: dev\n    branch: main\n" +
				"  - name: dev\n" +
				"  - name: Prod\n" +
				"  - branch: x\n" +
				"  - name: qa\n    aproval: true\n" +
				"  - name: uat\n    approval: maybe\n" +
				"  - name: demo\n    branch: \"feature x\"\n" +
				"  - just-a-name\n",
			want: []wantProblem{
				{9, "stages[1].name", `stage "dev" is declared twice (first on line 7); stage names must be unique`},
				{10, "stages[2].name", `stage name "Prod" is not valid`},
				{11, "stages[3].name", `stage has no name; give it one, e.g. name: staging`},
				{13, "stages[4].aproval", `unknown stage key "aproval"; did you mean "approval"?; valid keys: approval, branch, name, schedules`},
				{15, "stages[5].approval", `approval must be true or false; got "maybe"`},
				{17, "stages[6].branch", `"feature x" is not a valid branch name`},
				{18, "stages[7]", `must be a mapping of keys to values, e.g. {name: dev, branch: main}; got "just-a-name"`},
			},
		},
		{
			name: "stages must be a list",
			yaml: "services:\n  api:\n    path: .\n    runtime: go\n    functions: {hello: {routes: [\"GET /hello\"]}}\nstages: dev\n",
			want: []wantProblem{{6, "stages", "must be a list of stages in pipeline order"}},
		},
		{
			name: "duplicate keys",
			yaml: "services:\n  api:\n    path: .\n    runtime: go\n    path: other\n    functions: {hello: {routes: [\"GET /hello\"]}}\n",
			want: []wantProblem{{5, "services.api.path", `key "path" appears twice (first on line 3); keep one`}},
		},
		{
			name: "service is a string",
			yaml: "services:\n  api: services/api\n",
			want: []wantProblem{{2, "services.api", `must be a mapping of keys to values, e.g. {path: services/api, runtime: go, functions: {...}}; got "services/api"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want %d problems", st, len(tt.want))
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error is %T (%v), want Problems", err, err)
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(probs) {
		t.Errorf("Error() has %d lines for %d problems:\n%v", len(lines), len(probs), err)
	}
	for i, w := range want {
		p := probs[i]
		if p.Line != w.line || p.Field != w.field || !strings.Contains(p.Message, w.contains) {
			t.Errorf("problem %d = line %d, field %q, %q\nwant line %d, field %q, containing %q", i, p.Line, p.Field, p.Message, w.line, w.field, w.contains)
		}
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse(readFixture(t, "four-problems.yml"))
	checkProblems(t, err, []wantProblem{
		{4, "services.api.runtime", `unknown runtime "rust"; valid runtimes: go, node, python, static, process`},
		{12, "services.worker.functions.jobs.handler", "handler is missing"},
		{13, "services.worker.functions.jobs.routes[0]", `route "GET /hello" of function worker/jobs overlaps "GET /hello" of function api/hello (line 7)`},
		{16, "services.worker.functions.cron.timeout", `timeout "1h" is too long`},
	})
	want := `seedbed.yml:4: services.api.runtime: unknown runtime "rust"; valid runtimes: go, node, python, static, process`
	if first := strings.Split(err.Error(), "\n")[0]; first != want {
		t.Errorf("first line of the error = %q, want %q", first, want)
	}
}

func TestParseFixtureProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []wantProblem
	}{
		{
			name: "bad YAML",
			file: "bad-yaml.yml",
			want: []wantProblem{{5, "", "invalid YAML: did not find expected key"}},
		},
		{
			name: "traversal",
			file: "traversal.yml",
			want: []wantProblem{
				{3, "services.api.path", `"../../etc" leads outside the repository root; give a folder inside it`},
				{8, "services.abs.path", `"/etc" is absolute`},
				{12, "services.abs.functions.hello.handler", `"../../bin/sh" leads outside the service folder`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(readFixture(t, tt.file))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
		noFile  bool
	}{
		{
			name: "valid",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, FileName), string(readFixture(t, "minimal.yml")))
			},
		},
		{
			name:    "missing file shows an example",
			setup:   func(t *testing.T, dir string) {},
			wantErr: "no seedbed.yml at the root of the repository; add one that declares your services, for example:\n\nservices:\n  api:\n",
			noFile:  true,
		},
		{
			name: "seedbed.yaml is named",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "seedbed.yaml"), "services: {}\n")
			},
			wantErr: "no seedbed.yml at the root of the repository, but there is seedbed.yaml: rename it to seedbed.yml",
			noFile:  true,
		},
		{
			name: "symlink is refused",
			setup: func(t *testing.T, dir string) {
				outside := filepath.Join(t.TempDir(), "secret.yml")
				writeFile(t, outside, "services: {}\n")
				if err := os.Symlink(outside, filepath.Join(dir, FileName)); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "seedbed.yml must be a regular file in the repository, not a symlink",
		},
		{
			name: "problems come through",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, FileName), "services: {}\n")
			},
			wantErr: "seedbed.yml:1: services: no services declared",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			st, err := ParseFile(dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseFile: %v", err)
				}
				if len(st.Services) != 1 || st.Services[0].Name != "api" {
					t.Errorf("ParseFile = %+v, want the api service", st)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseFile error = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrNoFile); got != tt.noFile {
				t.Errorf("errors.Is(err, ErrNoFile) = %v, want %v", got, tt.noFile)
			}
		})
	}
}

func TestParseAliasBomb(t *testing.T) {
	// Each level merges the one below twice, so walking level 39 naively
	// would visit 2^39 mappings.
	var b strings.Builder
	b.WriteString("x-a0: &a0 {K: v}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "x-a%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("services:\n  api:\n    path: .\n    runtime: go\n    functions:\n      f:\n        env: *a39\n")
	done := make(chan error, 1)
	go func() { _, err := Parse([]byte(b.String())); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "more than 1000 alias expansions") {
			t.Errorf("Parse error = %v, want a problem about alias expansions", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse did not finish")
	}
}

func TestRouteString(t *testing.T) {
	if got := (Route{Method: "ANY", Path: "/hello/{proxy+}"}).String(); got != "ANY /hello/{proxy+}" {
		t.Errorf("String() = %q", got)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
