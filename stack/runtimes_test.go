package stack

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRuntimes(t *testing.T) {
	got, err := Parse(readFixture(t, "runtimes.yml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Stack{Services: []Service{
		{
			Name: "api", Path: "services/api", Runtime: "go",
			Functions: []Function{{Name: "hello", Kind: KindLambda, Handler: "bootstrap", Routes: []Route{{"GET", "/go"}}}},
		},
		{
			Name: "node", Path: "services/node", Runtime: "node", Build: "npm run build",
			Functions: []Function{
				{Name: "js", Kind: KindLambda, Handler: "index.handler", Routes: []Route{{"GET", "/node/js"}}},
				{Name: "server", Kind: KindHTTP, Handler: "server.js", Routes: []Route{{"GET", "/node"}}},
				{Name: "ts", Kind: KindLambda, Handler: "src/app.handler", Routes: []Route{{"POST", "/node/ts"}}},
				{Name: "tsserver", Kind: KindHTTP, Handler: "src/server.ts", Routes: []Route{{"GET", "/node/ts"}}},
			},
		},
		{
			Name: "py", Path: "services/py", Runtime: "python",
			Functions: []Function{
				{Name: "fn", Kind: KindLambda, Handler: "app.handler", Routes: []Route{{"ANY", "/py/{proxy+}"}}},
				{Name: "web", Kind: KindHTTP, Handler: "web/app.py", Routes: []Route{{"GET", "/py"}}},
			},
		},
		{
			Name: "site", Path: "web", Runtime: "static", Build: "mkdir -p dist && cp index.html dist/", Output: "dist",
			Functions: []Function{{Name: "pages", Kind: KindHTTP, Routes: []Route{{"GET", "/"}, {"GET", "/{file+}"}}}},
		},
		{
			Name: "worker", Path: "worker", Runtime: "process",
			Functions: []Function{{Name: "run", Kind: KindHTTP, Handler: "./run.sh", Routes: []Route{{"POST", "/jobs"}}}},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseRuntimeProblems(t *testing.T) {
	_, err := Parse(readFixture(t, "runtime-problems.yml"))
	checkProblems(t, err, []wantProblem{
		{6, "services.node.functions.a.handler", "handler is missing; for a lambda function of runtime node it is file.export, e.g. handler: index.handler (index.js or index.ts exporting handler)"},
		{11, "services.node.functions.b.handler", `handler "index" is not file.export; a node lambda handler is file.export relative to the service folder, e.g. index.handler`},
		{14, "services.node.functions.c.handler", `handler "index.handler" looks like an AWS Lambda handler; add type: lambda, or give the entry file that serves HTTP on $PORT, e.g. handler: server.js`},
		{17, "services.node.functions.d.handler", `handler "node server.js" is not a node file; for an http function of runtime node it is the entry file that serves HTTP on $PORT, e.g. handler: server.js (or src/server.ts); it is bundled and run with node`},
		{19, "services.node.functions.e.handler", "handler is missing; for an http function of runtime node it is the entry file that serves HTTP on $PORT, e.g. handler: server.js"},
		{22, "services.node.functions.f.type", `unknown type "function"; valid types: http (the function serves HTTP on $PORT, the default), lambda (an unchanged AWS Lambda handler)`},
		{26, "services.node.functions.g.handler", `"../server.js" leads outside the service folder`},
		{27, "services.node.functions.g.routes", `routes is empty; give at least one, e.g. routes: ["GET /hello"]`},
		{31, "services.py.output", "output is only for runtime static (the folder its build leaves the site in); remove it, or use runtime: static"},
		{35, "services.py.functions.a.handler", `handler "app.py" names a file, not a function; a python lambda handler is module.function relative to the service folder, e.g. app.handler (app.py defining handler(event, context))`},
		{38, "services.py.functions.b.handler", `handler "app" is not a python file; for an http function of runtime python it is the entry file that serves HTTP on $PORT, e.g. handler: app.py; it is run with python3 from the service folder`},
		{40, "services.py.functions.c.routes", `routes are missing; a function is reached only through its routes`},
		{42, "services.py.functions.c.handler", `handler "src/app..handler" has module "src/app.", which is not a path of Python module names`},
		{46, "services.site.output", `"../dist" leads outside the service folder; give a folder inside it, e.g. output: dist`},
		{49, "services.site.functions.pages.type", "type lambda is for runtimes go, node and python; a static function serves HTTP, so remove type or write type: http"},
		{50, "services.site.functions.pages.handler", "runtime static has no handler: the gateway serves the service's files (or its output folder) under the routes; remove handler"},
		{57, "services.worker.functions.run.type", "type lambda is for runtimes go, node and python; a process function serves HTTP, so remove type or write type: http"},
	})
}

func TestSplitLambdaHandler(t *testing.T) {
	tests := []struct {
		name, runtime, handler string
		module, export         string
		wantErr                string
	}{
		{name: "node index", runtime: "node", handler: "index.handler", module: "index", export: "handler"},
		{name: "node in a folder", runtime: "node", handler: "src/app.handler", module: "src/app", export: "handler"},
		{name: "node ./ is cleaned", runtime: "node", handler: "./src/app.main", module: "src/app", export: "main"},
		{name: "node nested export", runtime: "node", handler: "index.handlers.get", module: "index", export: "handlers.get"},
		{name: "node $ in a name", runtime: "node", handler: "index.$handler", module: "index", export: "$handler"},
		{name: "node dotted folder", runtime: "node", handler: "v1.2/index.handler", module: "v1.2/index", export: "handler"},
		{name: "node file name", runtime: "node", handler: "src/index.ts", wantErr: `handler "src/index.ts" names a file, not an export`},
		{name: "node no export", runtime: "node", handler: "index", wantErr: `handler "index" is not file.export`},
		{name: "node trailing dot", runtime: "node", handler: "index.", wantErr: "is not file.export"},
		{name: "node no file", runtime: "node", handler: ".handler", wantErr: "is not file.export"},
		{name: "node bad export", runtime: "node", handler: "index.handle-it", wantErr: `exports "handle-it", which is not a JavaScript name`},
		{name: "node escapes", runtime: "node", handler: "../index.handler", wantErr: "leads outside the service folder"},
		{name: "node absolute", runtime: "node", handler: "/srv/index.handler", wantErr: "is absolute"},
		{name: "node empty", runtime: "node", handler: " ", wantErr: "is empty"},
		{name: "python module", runtime: "python", handler: "app.handler", module: "app", export: "handler"},
		{name: "python dotted module", runtime: "python", handler: "pkg.mod.handler", module: "pkg/mod", export: "handler"},
		{name: "python folder", runtime: "python", handler: "src/app.handler", module: "src/app", export: "handler"},
		{name: "python file name", runtime: "python", handler: "app.py", wantErr: `handler "app.py" names a file, not a function`},
		{name: "python no function", runtime: "python", handler: "app", wantErr: "is not module.function"},
		{name: "python bad function", runtime: "python", handler: "app.2go", wantErr: `names function "2go", which is not a Python name`},
		{name: "python climbs", runtime: "python", handler: "../app.handler", wantErr: "is not a path of Python module names"},
		{name: "python spaces", runtime: "python", handler: "my app.handler", wantErr: "contains spaces"},
		{name: "go has none", runtime: "go", handler: "bootstrap", wantErr: `runtime "go" has no lambda handlers of the form file.export`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			module, export, err := SplitLambdaHandler(tt.runtime, tt.handler)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitLambdaHandler(%q, %q) error = %v, want it to contain %q", tt.runtime, tt.handler, err, tt.wantErr)
				}
				return
			}
			if err != nil || module != tt.module || export != tt.export {
				t.Errorf("SplitLambdaHandler(%q, %q) = %q, %q, %v; want %q, %q", tt.runtime, tt.handler, module, export, err, tt.module, tt.export)
			}
		})
	}
}

func TestNodeEntry(t *testing.T) {
	tests := []struct {
		fn   Function
		want string
	}{
		{Function{Kind: KindHTTP, Handler: "server.js"}, "server.js"},
		{Function{Kind: KindHTTP, Handler: "src/server.ts"}, "src/server.js"},
		{Function{Kind: KindHTTP, Handler: "server.mjs"}, "server.js"},
		{Function{Handler: "server.cjs"}, "server.js"},
		{Function{Kind: KindLambda, Handler: "index.handler"}, "index.js"},
		{Function{Kind: KindLambda, Handler: "src/app.handler"}, "src/app.js"},
		{Function{Kind: KindLambda, Handler: "index"}, ""},
		{Function{Kind: KindHTTP}, ""},
	}
	for _, tt := range tests {
		if got := NodeEntry(tt.fn); got != tt.want {
			t.Errorf("NodeEntry(%+v) = %q, want %q", tt.fn, got, tt.want)
		}
	}
}
