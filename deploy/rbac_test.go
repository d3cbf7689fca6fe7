package deploy

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

// rbacObject is the part of an RBAC object (or a pod template) the checks
// read.
type rbacObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Rules []struct {
		APIGroups []string `yaml:"apiGroups"`
		Resources []string `yaml:"resources"`
		Verbs     []string `yaml:"verbs"`
	} `yaml:"rules"`
	RoleRef struct {
		Kind string `yaml:"kind"`
		Name string `yaml:"name"`
	} `yaml:"roleRef"`
	Subjects []struct {
		Kind      string `yaml:"kind"`
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"subjects"`
	Spec struct {
		Template struct {
			Spec struct {
				ServiceAccountName           string `yaml:"serviceAccountName"`
				AutomountServiceAccountToken *bool  `yaml:"automountServiceAccountToken"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func loadRBAC(t *testing.T, dir string) []rbacObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []rbacObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o rbacObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, o)
		}
	}
	return out
}

// permission is one verb on one resource of an API group ("" is core).
type permission struct{ group, resource, verb string }

func (p permission) String() string {
	g := p.group
	if g == "" {
		g = "core"
	}
	return p.verb + " " + g + "/" + p.resource
}

// groupOfClient maps client-go's typed group clients to API groups.
var groupOfClient = map[string]string{
	"CoreV1": "", "AppsV1": "apps", "NetworkingV1": "networking.k8s.io",
}

// targetCalls reads the Go source of the kubernetes target (tests left
// out) and lists every API call it makes, as the chains
// cs.GROUP().RESOURCE(ns).VERB(...) client-go's typed clients are called
// with. A server-side Apply is a patch, and a create when the object is
// new: the API server checks both.
func targetCalls(t *testing.T, dir string) map[permission][]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[permission][]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			verbCall, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			verbSel, ok := verbCall.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			resCall, ok := verbSel.X.(*ast.CallExpr)
			if !ok {
				return true
			}
			resSel, ok := resCall.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			groupCall, ok := resSel.X.(*ast.CallExpr)
			if !ok {
				return true
			}
			groupSel, ok := groupCall.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			group, known := groupOfClient[groupSel.Sel.Name]
			if !known {
				if strings.HasSuffix(groupSel.Sel.Name, "V1") || strings.Contains(groupSel.Sel.Name, "V1beta") {
					t.Errorf("%s: a client of group %s, which this test does not map to an API group: add it to groupOfClient", fset.Position(groupCall.Pos()), groupSel.Sel.Name)
				}
				return true
			}
			resource := strings.ToLower(resSel.Sel.Name)
			verbs := []string{lowerFirst(verbSel.Sel.Name)}
			if verbSel.Sel.Name == "Apply" {
				verbs = []string{"patch", "create"}
			}
			for _, v := range verbs {
				p := permission{group, resource, strings.ToLower(v)}
				calls[p] = append(calls[p], fset.Position(verbCall.Pos()).String())
			}
			return true
		})
	}
	return calls
}

func lowerFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// TestRoleCoversTheTarget holds rbac.yaml to the kubernetes target's code:
// the Role grants every verb on every resource the target calls, and
// nothing more; it lives in the functions' namespace, is bound to the
// ServiceAccount serve runs as, and no other Seedbed pod mounts a token.
// The cluster tests of the target (make test-k8s, TestTargetWorksWithTheRole)
// run the target with a token of this Role against a real API server.
func TestRoleCoversTheTarget(t *testing.T) {
	calls := targetCalls(t, "../targets/kubernetes")
	// The scan must see the calls it is about, or it proves nothing.
	for _, p := range []permission{{"apps", "deployments", "patch"}, {"apps", "deployments", "watch"}, {"", "configmaps", "get"}, {"", "secrets", "delete"}} {
		if len(calls[p]) == 0 {
			t.Fatalf("the scan of targets/kubernetes found no %s call (found %v): the scan is broken", p, slices.Sorted(func(yield func(string) bool) {
				for p := range calls {
					if !yield(p.String()) {
						return
					}
				}
			}))
		}
	}

	objs := loadRBAC(t, "kubernetes")
	var role *rbacObject
	var bindings []rbacObject
	for i, o := range objs {
		switch o.Kind {
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("%s %s: Seedbed needs no cluster-wide permission", o.Kind, o.Metadata.Name)
		case "Role":
			if role != nil {
				t.Errorf("a second Role %s: the checks assume one", o.Metadata.Name)
			}
			role = &objs[i]
		case "RoleBinding":
			bindings = append(bindings, o)
		}
	}
	if role == nil {
		t.Fatal("no Role in deploy/kubernetes")
	}
	if role.Metadata.Namespace != functionsNamespace {
		t.Errorf("Role %s is in namespace %q, want the functions' %q", role.Metadata.Name, role.Metadata.Namespace, functionsNamespace)
	}
	granted := map[permission]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("Role %s grants a wildcard (%q %q %q): name each group, resource and verb", role.Metadata.Name, g, res, v)
					}
					granted[permission{g, res, v}] = true
				}
			}
		}
	}
	for p, where := range calls {
		if !granted[p] {
			t.Errorf("the target needs %s (%s); Role %s does not grant it", p, strings.Join(where, ", "), role.Metadata.Name)
		}
	}
	for p := range granted {
		if len(calls[p]) == 0 {
			t.Errorf("Role %s grants %s, which the target never calls: grant only what it uses", role.Metadata.Name, p)
		}
	}

	// Bound to serve's ServiceAccount, in the functions' namespace.
	bound := false
	for _, b := range bindings {
		if b.RoleRef.Kind != "Role" || b.RoleRef.Name != role.Metadata.Name {
			continue
		}
		if b.Metadata.Namespace != functionsNamespace {
			t.Errorf("RoleBinding %s is in namespace %q, want %q", b.Metadata.Name, b.Metadata.Namespace, functionsNamespace)
		}
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == "seedbed" && s.Namespace == "seedbed" {
				bound = true
			} else {
				t.Errorf("RoleBinding %s also binds %s %s/%s", b.Metadata.Name, s.Kind, s.Namespace, s.Name)
			}
		}
	}
	if !bound {
		t.Errorf("no RoleBinding gives Role %s to ServiceAccount seedbed/seedbed", role.Metadata.Name)
	}
	for _, o := range objs {
		if o.Kind != "Deployment" && o.Kind != "StatefulSet" {
			continue
		}
		spec := o.Spec.Template.Spec
		switch {
		case o.Metadata.Name == "seedbed":
			if spec.ServiceAccountName != "seedbed" {
				t.Errorf("Deployment seedbed runs as ServiceAccount %q, want seedbed (the kubernetes target's)", spec.ServiceAccountName)
			}
		case spec.ServiceAccountName == "seedbed":
			t.Errorf("%s %s runs as ServiceAccount seedbed: only serve runs the kubernetes target", o.Kind, o.Metadata.Name)
		case spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken:
			t.Errorf("%s %s mounts a ServiceAccount token; set automountServiceAccountToken: false", o.Kind, o.Metadata.Name)
		}
	}
}
