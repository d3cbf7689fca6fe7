package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/store"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512KiB", 512 << 10, true},
		{"2GiB", 2 << 30, true},
		{"100MB", 100_000_000, true},
		{"0", 0, true},
		{"lots", 0, false},
		{"-1MiB", 0, false},
		{"1.5GiB", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// seedbed gc removes function log segments past the retention, and only
// says so in a dry run; bad settings are refused with what would do.
func TestGCPrunesFunctionLogs(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "seedbed.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	stage := filepath.Join(dir, "fnlogs", "shop", "dev")
	if err := os.MkdirAll(stage, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, 30 * time.Hour, time.Hour} {
		name := fmt.Sprintf("%020d", now.Add(-age).UnixMicro())
		os.WriteFile(filepath.Join(stage, name+".log"), []byte(fmt.Sprintf("%d\t1\toI\tsome line\n", now.Add(-age).UnixMicro())), 0o600)
		os.WriteFile(filepath.Join(stage, name+".src"), []byte("1\tapi/hello\t1\t1\n"), 0o600)
	}
	gc := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"gc", "--data-dir", dir}, args...), func(string) string { return "" }, nil, &out, &errOut); code != 0 {
			t.Fatalf("seedbed gc %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		return out.String()
	}
	count := func() int {
		m, _ := filepath.Glob(filepath.Join(stage, "*.log"))
		return len(m)
	}
	// A day: the segments whose lines all ended over a day ago go (the
	// one started 30h ago ran until 1h ago: it stays).
	if out := gc("--dry-run", "--retain-function-logs", "24h"); !strings.Contains(out, "would remove 2 segments") || count() != 4 {
		t.Errorf("dry run printed %q and left %d segments", out, count())
	}
	if out := gc("--retain-function-logs", "24h"); !strings.Contains(out, "Function logs (kept 1 day, at most 1.0 GiB a stage): removed 2 segments") || count() != 2 {
		t.Errorf("gc printed %q and left %d segments", out, count())
	}
	if out := gc("--retain-function-logs-size", "1B"); !strings.Contains(out, "removed 1 segments") || count() != 1 {
		t.Errorf("gc by size printed %q and left %d segments", out, count())
	}

	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--retain-function-logs-size", "lots"}, nil, `"lots" is not a size: give bytes or a whole number with a unit`},
		{[]string{"--retain-function-logs", "-1h"}, nil, "--retain-function-logs must be 0 (no age limit) or a positive duration"},
		{nil, map[string]string{"SEEDBED_RETAIN_FUNCTION_LOGS": "7d"}, `SEEDBED_RETAIN_FUNCTION_LOGS="7d": want a duration such as 168h`},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"gc", "--data-dir", dir}, tt.args...), func(k string) string { return tt.env[k] }, nil, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("seedbed gc %v %v: exit %d, %q; want an error with %q", tt.args, tt.env, code, errOut.String(), tt.want)
		}
	}
}
