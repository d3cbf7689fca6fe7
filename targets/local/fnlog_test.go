package local

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// withFunctionLogs gives the target a real function log in a temp dir.
func withFunctionLogs(t *testing.T, logs **fnlog.Store) func(*Config) {
	t.Helper()
	st, err := fnlog.Open(fnlog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	*logs = st
	return func(c *Config) { c.Logs = st }
}

// waitLines queries ref's function log until check accepts what it holds.
func waitLines(t *testing.T, logs *fnlog.Store, q fnlog.Query, check func([]fnlog.Line) bool) []fnlog.Line {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := logs.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if check(res.Lines) || time.Now().After(deadline) {
			return res.Lines
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasText(lines []fnlog.Line, sub string) (fnlog.Line, bool) {
	for _, l := range lines {
		if strings.Contains(l.Text, sub) {
			return l, true
		}
	}
	return fnlog.Line{}, false
}

func TestFunctionOutputGoesToFunctionLog(t *testing.T) {
	const secret = "s3cr3t-value"
	var logs *fnlog.Store
	b := setup(t, withFunctionLogs(t, &logs))
	fn := targets.Function{Service: "api", Name: "sh", Runtime: "process", Digest: digest("v1"), Release: 42,
		Handler: `echo "starting with API_KEY=$API_KEY"; echo "WARN: cache cold" ; echo "$PEM" >&2; printf '%04090d%s\n' 0 "$API_KEY"; exec ./bootstrap`,
		Env:     map[string]string{"API_KEY": secret, "PEM": "-----BEGIN KEY-----\nline-one-secret\n-----END KEY-----"},
		Secrets: []string{"API_KEY", "PEM"},
		Routes:  []stack.Route{{Method: "GET", Path: "/who"}}}
	if err := b.target.Apply(t.Context(), shopDev, []targets.Function{fn}, &progress{}); err != nil {
		t.Fatal(err)
	}
	q := fnlog.Query{App: "shop", Stage: "dev"}
	lines := waitLines(t, logs, q, func(ls []fnlog.Line) bool { _, ok := hasText(ls, "fn listening"); return ok && len(ls) >= 8 })
	want := []struct {
		text, stream, level string
	}{
		{"starting with API_KEY=••••••", fnlog.StreamStdout, fnlog.LevelInfo},
		{"WARN: cache cold", fnlog.StreamStdout, fnlog.LevelWarn},
		{"fn listening on", fnlog.StreamStdout, fnlog.LevelInfo},
	}
	// Every line of the multi-line secret is masked on its own.
	masked := 0
	for _, l := range lines {
		if l.Text == "••••••" && l.Stream == fnlog.StreamStderr && l.Level == fnlog.LevelError {
			masked++
		}
	}
	if masked != 3 {
		t.Errorf("%d masked stderr lines, want the PEM's 3: %+v", masked, lines)
	}
	for _, w := range want {
		l, ok := hasText(lines, w.text)
		if !ok {
			t.Errorf("no line %q in %+v", w.text, lines)
			continue
		}
		if l.Stream != w.stream || l.Level != w.level || l.Function != "api/sh" || l.Release != 42 || l.Instance == "" {
			t.Errorf("line %q = %+v, want stream %s level %s, function api/sh, release 42, an instance", w.text, l, w.stream, w.level)
		}
	}
	for _, l := range lines {
		if strings.Contains(l.Text, secret) || strings.Contains(l.Text, "line-one-secret") || strings.Contains(l.Text, secret[:3]) {
			t.Errorf("secret in the function log: %q", l.Text)
		}
	}
	// An overlong line is cut at 4 KiB after masking: no part of a secret
	// across the cut shows.
	if long, ok := hasText(lines, "[cut at 4 KiB]"); !ok || !strings.HasSuffix(long.Text, "00•• … [cut at 4 KiB]") && !strings.HasSuffix(long.Text, "00•• … [cut at 4 KiB]") {
		t.Errorf("overlong line = %q (found %v)", long.Text[max(0, len(long.Text)-40):], ok)
	}

	// A crash is noted in the log, and the new process's lines follow.
	wantStatus(t, b.get(t, "/shop/dev/who"), http.StatusOK)
	in := b.instanceOf(t, shopDev, "api/sh")
	in.mu.Lock()
	pid := in.cur.cmd.Process.Pid
	in.mu.Unlock()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lines = waitLines(t, logs, q, func(ls []fnlog.Line) bool { return len(ls) >= 17 }) // 8, the note, 8 again
	if len(lines) != 17 {
		t.Fatalf("want 8 lines, a note and 8 lines of the restarted process; got %+v", lines)
	}
	note := lines[8]
	if note.Stream != fnlog.StreamSeedbed || note.Level != fnlog.LevelError || !strings.Contains(note.Text, "killed by signal killed; restarting in") {
		t.Errorf("crash note = %+v in %+v", note, lines)
	}
	if _, ok := hasText(lines[9:], "starting with API_KEY=••••••"); !ok {
		t.Errorf("the restarted process's lines do not follow the note: %+v", lines)
	}
}

func TestLambdaErrorsGoToFunctionLog(t *testing.T) {
	var logs *fnlog.Store
	b := setup(t, withTrees, withFunctionLogs(t, &logs))
	fn := lambdaFn("go", "bootstrap", "go-lambda", map[string]string{"GREETING": "hi"})
	b.apply(t, shopDev, fn)
	if a := b.call(t, call{path: "/shop/dev/fail"}); a.status != http.StatusInternalServerError && a.status != http.StatusBadGateway {
		t.Fatalf("/fail answered %d %s", a.status, a.body)
	}
	lines := waitLines(t, logs, fnlog.Query{App: "shop", Stage: "dev", Function: "api/fn"}, func(ls []fnlog.Line) bool {
		_, ok := hasText(ls, "failed: errorString")
		return ok
	})
	l, ok := hasText(lines, "failed: errorString")
	if !ok || l.Stream != fnlog.StreamRuntime || l.Level != fnlog.LevelError || !strings.HasPrefix(l.Text, "invocation ") {
		t.Errorf("runtime error line = %+v (found %v) in %+v", l, ok, lines)
	}
}
