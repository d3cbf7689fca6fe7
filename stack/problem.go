package stack

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a stack file, located by line and column
// (1-based; 0 when it concerns the whole file) and by the dotted field path
// it concerns ("services.api.runtime", "stages[1].name").
type Problem struct {
	Line, Column int
	Field        string
	Message      string // what is wrong and what would be valid
}

// String renders the problem the way compilers do:
// `seedbed.yml:7: services.api.runtime: unknown runtime "rust"; valid runtimes: go, process`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(FileName)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error Parse returns for an invalid stack file: every
// problem found, ordered by position. Use errors.As to get at them.
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
