package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/targets/local"
	"github.com/seedbed/seedbed/web/gitremote"
)

// image is the final stage of a Dockerfile, as far as the test needs it.
type image struct {
	base       string   // FROM, e.g. golang:1.26-trixie
	packages   []string // apt-get install arguments that are not options
	copied     []string // file names COPY puts in place
	entrypoint []string
}

// parseDockerfile reads the final stage of the Dockerfile at p: its base
// image, the packages its RUN lines install with apt-get, its ENTRYPOINT.
// It knows the forms this repository uses (apt-get install in a RUN, exec
// form ENTRYPOINT) and fails on an apk or dnf line rather than ignore it.
func parseDockerfile(t *testing.T, p string) image {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	var img image
	for _, l := range lines {
		instr, args, _ := strings.Cut(l, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one counts
			img = image{base: strings.Fields(args)[0]}
		case "RUN":
			for _, cmd := range splitShell(args) {
				f := strings.Fields(cmd)
				switch {
				case len(f) >= 2 && (f[0] == "apt-get" || f[0] == "apt") && slices.Contains(f, "install"):
					i := slices.Index(f, "install")
					for _, a := range f[i+1:] {
						if !strings.HasPrefix(a, "-") {
							img.packages = append(img.packages, strings.SplitN(a, "=", 2)[0])
						}
					}
				case len(f) >= 1 && (f[0] == "apk" || f[0] == "dnf" || f[0] == "yum"):
					t.Fatalf("%s: %q installs with %s, which this test does not read; teach parseDockerfile", p, cmd, f[0])
				}
			}
		case "COPY":
			if f := strings.Fields(args); len(f) >= 2 {
				img.copied = append(img.copied, path.Base(f[len(f)-1]))
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(args), &img.entrypoint); err != nil {
				t.Fatalf("%s: ENTRYPOINT %s is not in exec form: %v", p, args, err)
			}
		}
	}
	return img
}

// splitShell splits a RUN line at && ; and |, which is enough for the
// install lines of a Dockerfile.
func splitShell(s string) []string {
	for _, sep := range []string{"&&", "||", ";", "|"} {
		s = strings.ReplaceAll(s, sep, "\n")
	}
	return strings.Split(s, "\n")
}

// debianNode is the Node.js major version of each Debian release's
// nodejs package, for bases whose tag names the release.
var debianNode = map[string]int{"bookworm": 18, "trixie": 20}

// debianRelease is the Debian release a base image tag names ("golang:
// 1.26-trixie" → trixie), or "".
func debianRelease(base string) string {
	for rel := range debianNode {
		if strings.HasSuffix(base, "-"+rel) || strings.HasSuffix(base, ":"+rel) {
			return rel
		}
	}
	return ""
}

// provides says how the image provides a program: a Debian package, or
// the base image. A program the code runs that is missing here fails the
// test: add how the image gets it.
var provides = map[string]struct {
	pkg  string
	base func(base string) bool
}{
	"sh":             {base: func(b string) bool { return debianRelease(b) != "" }}, // dash is Essential
	"go":             {base: func(b string) bool { return strings.HasPrefix(b, "golang:") }},
	"git":            {pkg: "git"},
	"node":           {pkg: "nodejs"},
	"npm":            {pkg: "npm"},
	"python3":        {pkg: "python3"},
	"python3 -m pip": {pkg: "python3-pip"},
	"bwrap":          {pkg: "bubblewrap"},
	"pasta":          {pkg: "passt"},
	"tini":           {pkg: "tini"},
}

// programs is every program the code runs, from the lists next to it.
func programs() []string {
	var all []string
	for _, l := range [][]string{builders.Programs(), local.Programs(), sandbox.Programs(), gitremote.Programs()} {
		for _, p := range l {
			if !slices.Contains(all, p) {
				all = append(all, p)
			}
		}
	}
	slices.Sort(all)
	return all
}

// imageProblems lists what the image lacks of what Seedbed runs.
func imageProblems(img image, progs []string) []string {
	var out []string
	need := slices.Clone(progs)
	if len(img.entrypoint) > 0 && !slices.Contains(img.copied, path.Base(img.entrypoint[0])) {
		need = append(need, img.entrypoint[0])
	}
	for _, prog := range need {
		how, ok := provides[prog]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: the code runs it, and deploy/image_test.go does not know which package provides it; install it in the Dockerfile and add it to provides", prog))
		case how.pkg != "" && !slices.Contains(img.packages, how.pkg):
			out = append(out, fmt.Sprintf("%s: not installed; add the Debian package %s to the apt-get install line", prog, how.pkg))
		case how.base != nil && !how.base(img.base):
			out = append(out, fmt.Sprintf("%s: the base image %s does not provide it", prog, img.base))
		}
	}
	if slices.Contains(img.packages, "nodejs") {
		rel := debianRelease(img.base)
		want, _ := strconv.Atoi(builders.NodeTarget)
		switch got, ok := debianNode[rel]; {
		case !ok:
			out = append(out, fmt.Sprintf("node: the base image %s names no Debian release this test knows the nodejs version of", img.base))
		case got < want:
			out = append(out, fmt.Sprintf("node: Debian %s's nodejs is Node.js %d, older than the Node.js %d bundles are written for (builders.NodeTarget)", rel, got, want))
		}
	}
	return out
}

func TestImageCarriesEveryProgram(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		want             []string // substrings of the problems, in order; none for the real image
	}{
		{name: "the image", dockerfile: "../Dockerfile"},
		{name: "the image before Node, Python and the sandbox", dockerfile: "testdata/bookworm-git-only.Dockerfile", want: []string{
			"bwrap: not installed; add the Debian package bubblewrap",
			"node: not installed; add the Debian package nodejs",
			"npm: not installed",
			"pasta: not installed; add the Debian package passt",
			"python3: not installed",
			"python3 -m pip: not installed; add the Debian package python3-pip",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := parseDockerfile(t, tt.dockerfile)
			got := imageProblems(img, programs())
			if len(got) != len(tt.want) {
				t.Fatalf("%s (base %s, packages %v):\n  %s\nwant %d problems", tt.dockerfile, img.base, img.packages, strings.Join(got, "\n  "), len(tt.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestImageNodeVersion(t *testing.T) {
	for _, tt := range []struct {
		base string
		ok   bool
	}{{"golang:1.26-trixie", true}, {"golang:1.26-bookworm", false}, {"golang:1.26-alpine", false}} {
		probs := imageProblems(image{base: tt.base, packages: []string{"nodejs"}}, nil)
		if (len(probs) == 0) != tt.ok {
			t.Errorf("base %s: problems %v, want ok=%v", tt.base, probs, tt.ok)
		}
	}
}

// The lists cannot fall behind the code silently: every program a
// package names in exec.Command, exec.CommandContext, exec.LookPath or
// the builders' lookPath is on one of them.
func TestProgramListsCoverTheCode(t *testing.T) {
	listed := programs()
	found := map[string][]string{}
	fset := token.NewFileSet()
	root := ".."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			// What ships: not the tests' helpers and benchmarks.
			case "testdata", "testutil", "node_modules", ".git", "bench", "k8s":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			arg := -1
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "exec" {
					switch fn.Sel.Name {
					case "Command", "LookPath":
						arg = 0
					case "CommandContext":
						arg = 1
					}
				}
			case *ast.Ident:
				if fn.Name == "lookPath" {
					arg = 1
				}
			}
			if arg < 0 || len(call.Args) <= arg {
				return true
			}
			if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				found[path.Base(name)] = append(found[path.Base(name)], fset.Position(lit.Pos()).String())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("found no program the code runs: the scan is broken")
	}
	for name, where := range found {
		if !slices.Contains(listed, name) {
			t.Errorf("%s is run at %s but is on no Programs list (builders, targets/local, sandbox, gitremote): add it where it is run, and to the Dockerfile", name, strings.Join(where, ", "))
		}
	}
	t.Logf("programs named in the code: %v; listed: %v", found, listed)
}
