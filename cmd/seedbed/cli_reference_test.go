package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

var updateCLIDocs = flag.Bool("update", false, "rewrite README.md's CLI reference and docs/cli.md from the commands' help (make cli-docs)")

const (
	readmePath = "../../README.md"
	cliDocPath = "../../docs/cli.md"
	// The README's reference is the fenced block after this heading.
	readmeHeading = "## CLI reference\n"
)

// helpOf is `seedbed ARGS --help` with an empty environment, so that no
// default read from it shows.
func helpOf(t *testing.T, path []string) string {
	t.Helper()
	code, out, errOut := runQuiet(append(path, "--help")...)
	if code != 0 {
		t.Fatalf("seedbed %s --help: exit %d, %s", strings.Join(path, " "), code, errOut)
	}
	return out
}

// cliReference renders docs/cli.md: every command's help, in tree order.
func cliReference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# seedbed command reference\n\n" +
		"Generated from each command's `--help` by `make cli-docs` (`go test ./cmd/seedbed -run TestCLIReference -update`);\n" +
		"a test fails when it and the commands disagree. Commands that print data take `--output json`.\n")
	for _, path := range commandPaths(newRootCmd(cliEnv{getenv: func(string) string { return "" }}, nil, io.Discard, io.Discard), nil) {
		b.WriteString("\n## " + strings.TrimSpace("seedbed "+strings.Join(path, " ")))
		b.WriteString("\n\n```text\n" + helpOf(t, path) + "```\n")
	}
	return b.String()
}

// readmeBlock finds the fenced block under the README's CLI reference
// heading: the text before it, its content, the text after it.
func readmeBlock(t *testing.T, readme string) (before, block, after string) {
	t.Helper()
	i := strings.Index(readme, readmeHeading)
	if i < 0 {
		t.Fatalf("README.md has no %q section", strings.TrimSpace(readmeHeading))
	}
	const open, closing = "```text\n", "```\n"
	j := strings.Index(readme[i:], open)
	if j < 0 {
		t.Fatalf("README.md's CLI reference has no ```text block")
	}
	start := i + j + len(open)
	// The closing fence starts a line; the block may be empty.
	k := strings.Index("\n"+readme[start:], "\n"+closing)
	if k < 0 {
		t.Fatalf("README.md's CLI reference block is not closed")
	}
	end := start + k
	return readme[:start], readme[start:end], readme[end:]
}

// The README shows `seedbed --help` exactly, and docs/cli.md every
// command's help; run with -update (make cli-docs) after changing a
// command.
func TestCLIReference(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	before, block, after := readmeBlock(t, string(b))
	root := helpOf(t, nil)
	doc := cliReference(t)
	if *updateCLIDocs {
		if err := os.WriteFile(readmePath, []byte(before+root+after), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cliDocPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if block != root {
		t.Errorf("README.md's CLI reference differs from `seedbed --help`; run make cli-docs\nREADME:\n%s\nseedbed --help:\n%s", block, root)
	}
	got, err := os.ReadFile(cliDocPath)
	if err != nil {
		t.Fatalf("%v; run make cli-docs", err)
	}
	if string(got) != doc {
		t.Errorf("docs/cli.md differs from the commands' help; run make cli-docs")
	}
}
