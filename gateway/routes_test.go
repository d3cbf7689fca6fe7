package gateway

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

func routedFn(name string, routes ...string) targets.Function {
	fn := targets.Function{Service: "api", Name: name}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		fn.Routes = append(fn.Routes, stack.Route{Method: method, Path: path})
	}
	return fn
}

func TestRouteMatching(t *testing.T) {
	table, err := NewTable([]targets.Function{
		routedFn("root", "GET /"),
		routedFn("me", "GET /users/me"),
		routedFn("user", "GET /users/{id}", "DELETE /users/{id}"),
		routedFn("users", "ANY /users/{rest+}"),
		routedFn("files", "GET /files/{path+}"),
		routedFn("things", "ANY /things"),
		routedFn("create", "post /things"),
		routedFn("left", "GET /a/{x}/c"),
		routedFn("right", "GET /{y}/b/c"),
	})
	if err != nil {
		t.Fatalf("buildTable: %v", err)
	}
	tests := []struct {
		name   string
		method string
		path   string
		want   string   // function key, or "" for no match
		allow  []string // when want is "": methods for a 405, nil for a 404
	}{
		{name: "root", method: "GET", path: "/", want: "api/root"},
		{name: "root wrong method", method: "POST", path: "/", allow: []string{"GET"}},
		{name: "exact beats param", method: "GET", path: "/users/me", want: "api/me"},
		{name: "trailing slash", method: "GET", path: "/users/me/", want: "api/me"},
		{name: "param", method: "GET", path: "/users/42", want: "api/user"},
		{name: "param other method", method: "DELETE", path: "/users/42", want: "api/user"},
		{name: "param beats greedy, greedy takes other methods", method: "PUT", path: "/users/42", want: "api/users"},
		{name: "greedy several segments", method: "GET", path: "/users/42/posts/7", want: "api/users"},
		{name: "greedy needs a segment", method: "GET", path: "/users", want: ""},
		{name: "greedy get", method: "GET", path: "/files/a/b/c.txt", want: "api/files"},
		{name: "greedy wrong method", method: "POST", path: "/files/a", allow: []string{"GET"}},
		{name: "head answered by get", method: "HEAD", path: "/files/a", want: "api/files"},
		{name: "named method beats any", method: "POST", path: "/things", want: "api/create"},
		{name: "any", method: "PATCH", path: "/things", want: "api/things"},
		{name: "exact earlier segment wins", method: "GET", path: "/a/b/c", want: "api/left"},
		{name: "param first segment", method: "GET", path: "/z/b/c", want: "api/right"},
		{name: "no route", method: "GET", path: "/nope", want: ""},
		{name: "too long", method: "GET", path: "/users/me/x", want: "api/users"},
		{name: "encoded slash stays in its segment", method: "GET", path: "/users/a%2Fb", want: "api/user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, allow := table.Match(tc.method, splitEscapedPath(tc.path))
			got := ""
			if r != nil {
				got = r.fn.Key()
			}
			if got != tc.want {
				t.Errorf("%s %s matched %q, want %q", tc.method, tc.path, got, tc.want)
			}
			if !slices.Equal(allow, tc.allow) {
				t.Errorf("%s %s allowed %v, want %v", tc.method, tc.path, allow, tc.allow)
			}
		})
	}
}

func TestBuildTableRefusesBadRoutes(t *testing.T) {
	tests := []struct {
		name string
		fns  []targets.Function
		want string
	}{
		{name: "greedy not last", fns: []targets.Function{routedFn("a", "GET /{p+}/x")}, want: "must be the last segment"},
		{name: "empty parameter", fns: []targets.Function{routedFn("a", "GET /{}")}, want: "bad parameter"},
		{name: "mixed segment", fns: []targets.Function{routedFn("a", "GET /x{id}")}, want: "mixes text and a parameter"},
		{name: "relative path", fns: []targets.Function{routedFn("a", "GET x")}, want: "path must start with /"},
		{name: "no method", fns: []targets.Function{{Service: "api", Name: "a", Routes: []stack.Route{{Path: "/x"}}}}, want: "method must be a word"},
		{name: "same route twice", fns: []targets.Function{routedFn("a", "ANY /x/{p+}"), routedFn("b", "ANY /x/{q+}")}, want: "claimed by both api/a and api/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTable(tc.fns)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := NewTable([]targets.Function{routedFn("a", "GET /x", "GET /x"), routedFn("b", "POST /x")}); err != nil {
		t.Errorf("a route repeated in one function, or another method: %v", err)
	}
}

func TestRouteParamsAndTail(t *testing.T) {
	tests := []struct {
		route      string
		path       string
		wantParams map[string]string
		wantTail   []string
	}{
		{route: "GET /hello", path: "/hello", wantTail: []string{"hello"}},
		{route: "GET /", path: "/", wantTail: nil},
		{route: "GET /users/{id}", path: "/users/42", wantParams: map[string]string{"id": "42"}, wantTail: []string{"users", "42"}},
		{route: "GET /users/{id}/posts/{post}", path: "/users/a%20b/posts/7", wantParams: map[string]string{"id": "a b", "post": "7"}, wantTail: []string{"users", "a b", "posts", "7"}},
		{route: "ANY /files/{path+}", path: "/files/a/b%2Fc/d.txt", wantParams: map[string]string{"path": "a/b/c/d.txt"}, wantTail: []string{"a", "b/c", "d.txt"}},
		{route: "GET /{proxy+}", path: "/x", wantParams: map[string]string{"proxy": "x"}, wantTail: []string{"x"}},
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			method, path, _ := strings.Cut(tc.route, " ")
			p, err := parseRoute(stack.Route{Method: method, Path: path})
			if err != nil {
				t.Fatal(err)
			}
			segs := splitEscapedPath(tc.path)
			if !p.matchPath(segs) {
				t.Fatalf("%s does not match %s", tc.route, tc.path)
			}
			if got := p.params(segs); !maps.Equal(got, tc.wantParams) || (got == nil) != (tc.wantParams == nil) {
				t.Errorf("params = %v, want %v", got, tc.wantParams)
			}
			if got := p.tail(segs); !slices.Equal(got, tc.wantTail) {
				t.Errorf("tail = %q, want %q", got, tc.wantTail)
			}
		})
	}
}
