package stack

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and whatever
// it accepts must hold the promises Stack makes.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("services: {a: {path: ., runtime: go, functions: {f: {routes: [\"ANY /{x+}\"]}}}}"))
	f.Add([]byte("x: &a [*a]"))
	f.Add([]byte("services:\n  <<: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error message")
			}
			return
		}
		if len(st.Services) == 0 {
			t.Fatal("accepted a stack without services")
		}
		if !slices.IsSortedFunc(st.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) }) {
			t.Error("services not sorted")
		}
		for _, s := range st.Services {
			if path.IsAbs(s.Path) || s.Path == ".." || strings.HasPrefix(s.Path, "../") {
				t.Errorf("service %s: path %q escapes the repository", s.Name, s.Path)
			}
			if !slices.Contains(Runtimes, s.Runtime) {
				t.Errorf("service %s: runtime %q accepted", s.Name, s.Runtime)
			}
			for _, fn := range s.Functions {
				if (fn.Handler == "") != (s.Runtime == "static") {
					t.Errorf("function %s/%s of runtime %s has handler %q", s.Name, fn.Name, s.Runtime, fn.Handler)
				}
				if fn.Kind != KindHTTP && fn.Kind != KindLambda {
					t.Errorf("function %s/%s: type %q accepted", s.Name, fn.Name, fn.Kind)
				}
				if len(fn.Routes) == 0 && len(fn.Events) == 0 {
					t.Errorf("function %s/%s has neither routes nor events", s.Name, fn.Name)
				}
				if fn.Timeout < 0 || fn.Timeout > MaxTimeout {
					t.Errorf("function %s/%s: timeout %s accepted", s.Name, fn.Name, fn.Timeout)
				}
			}
		}
	})
}
