package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// The CLI reads what the gateway counted: requests sent through the real
// gateway, some answered 500, show in `seedbed metrics` (requests, errors,
// percentiles), `seedbed requests --status 5xx --path`, and `seedbed
// errors` as one group that a deployer resolves from the CLI and a viewer
// may not. The commands run through main's run(); `seedbed metrics` also
// as the built binary.
func TestMetricsRequestsErrorsCLI(t *testing.T) {
	t.Parallel()
	a := startAppWith(t, embedded, func(c *Config) { c.RequestLogSample = 1 })
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("flaky", map[string]string{"seedbed.yml": stackFile(helloFunction), "services/api/go.mod": goMod, "services/api/main.go": flakyFunction})
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "shop", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("shop", "dev", "")

	const ok, failed = 33, 5
	for i := range ok + failed {
		path, want := "/shop/dev/hello/x"+strconv.Itoa(i), 200
		if i < failed {
			path, want = "/shop/dev/hello/fail", 500
		}
		if code, body := a.get(path); code != want {
			t.Fatalf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
	a.waitCounted(t, "shop", "dev", ok+failed)

	env := func(token string) cli {
		return cli{t: t, env: map[string]string{"SEEDBED_SERVER": a.ConsoleURL(), "SEEDBED_TOKEN": token, "SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "none.json")}}
	}
	viewer := env(a.userToken("vic@example.com", "shop", "viewer"))
	deployer := env(a.userToken("dee@example.com", "shop", "deployer"))

	// seedbed metrics: the numbers sent, as JSON and as text.
	var sum apiv1.MetricsSummary
	decode(t, viewer.must("metrics", "shop", "--stage", "dev", "--since", "1h", "--output", "json"), &sum)
	if len(sum.Functions) != 1 {
		t.Fatalf("metrics printed %+v, want one function", sum)
	}
	f := sum.Functions[0]
	if f.Function != "api/hello" || f.Requests != ok+failed || f.Errors != failed || f.ErrorRate != float64(failed)/float64(ok+failed) {
		t.Fatalf("metrics = %+v; sent %d requests, %d answered 500", f, ok+failed, failed)
	}
	if f.P50MS <= 0 || f.P50MS > f.P95MS || f.P95MS > f.P99MS || f.P99MS > 5000 {
		t.Errorf("percentiles p50 %v, p95 %v, p99 %v ms", f.P50MS, f.P95MS, f.P99MS)
	}
	// The built binary prints the same numbers.
	bin := exec.Command(seedbedBinary(t), "metrics", "shop", "--stage", "dev", "--output", "json")
	bin.Env = append(os.Environ(), "SEEDBED_SERVER="+a.ConsoleURL(), "SEEDBED_TOKEN="+viewer.env["SEEDBED_TOKEN"], "SEEDBED_CLI_CONFIG="+filepath.Join(t.TempDir(), "none.json"))
	out, err := bin.Output()
	if err != nil {
		t.Fatalf("seedbed metrics (the binary): %v\n%s", err, out)
	}
	var fromBinary apiv1.MetricsSummary
	decode(t, string(out), &fromBinary)
	if len(fromBinary.Functions) != 1 || fromBinary.Functions[0].Requests != ok+failed || fromBinary.Functions[0].Errors != failed {
		t.Fatalf("the binary printed %+v", fromBinary)
	}
	text := viewer.must("metrics", "shop", "--stage", "dev", "--function", "api/hello")
	if !strings.Contains(text, "api/hello") || !strings.Contains(text, strconv.Itoa(ok+failed)) || !strings.Contains(text, "13.2") {
		t.Errorf("metrics text lacks the function, its %d requests or its 13.2 %% errors:\n%s", ok+failed, text)
	}
	decode(t, viewer.must("metrics", "shop", "--stage", "dev", "--function", "api/none", "-o", "json"), &sum)
	if len(sum.Functions) != 0 {
		t.Errorf("metrics of a function with no requests = %+v", sum.Functions)
	}
	if code, _, errOut := viewer.run("metrics", "shop", "--stage", "dev", "--since", "90d"); code != 1 || !strings.Contains(errOut, "14d") {
		t.Errorf("metrics --since 90d: exit %d, %q; want a refusal naming the limit", code, errOut)
	}
	if code, _, errOut := viewer.run("metrics", "shop", "--stage", "nope"); code != 1 || !strings.Contains(errOut, "nope") {
		t.Errorf("metrics of a missing stage: exit %d, %q", code, errOut)
	}

	// seedbed requests: the request log, written within a second or so.
	var logs []apiv1.RequestLogEntry
	deadline := time.Now().Add(10 * time.Second)
	for len(logs) < failed && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		decode(t, viewer.must("requests", "shop", "--stage", "dev", "--status", "5xx", "-o", "json"), &logs)
	}
	if len(logs) != failed {
		t.Fatalf("requests --status 5xx printed %d entries, want %d", len(logs), failed)
	}
	for _, l := range logs {
		if l.Status != 500 || l.Path != "/hello/fail" || l.Function != "api/hello" {
			t.Errorf("5xx entry %+v", l)
		}
	}
	// The 2xx entries may land in a later batch than the 5xx ones.
	for wait := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		decode(t, viewer.must("requests", "shop", "--stage", "dev", "--path", "/hello/x1", "--limit", "1000", "-o", "json"), &logs)
		if len(logs) >= 10 || time.Now().After(wait) {
			break
		}
	}
	if len(logs) != 10 { // x10 … x19 (x1 was a failing request)
		t.Errorf("requests --path /hello/x1 printed %d entries, want 10", len(logs))
	}
	if text := viewer.must("requests", "shop", "--stage", "dev", "--status", "500"); strings.Count(text, "/hello/fail") != failed {
		t.Errorf("requests text:\n%s", text)
	}
	if code, _, errOut := viewer.run("requests", "shop", "--stage", "dev", "--status", "oops"); code != 1 || !strings.Contains(errOut, "5xx") {
		t.Errorf("requests --status oops: exit %d, %q", code, errOut)
	}

	// seedbed errors: one group for the 500s; resolving is a deployer's.
	var groups []apiv1.Issue
	for time.Now().Before(deadline) {
		decode(t, viewer.must("errors", "shop", "--stage", "dev", "-o", "json"), &groups)
		if len(groups) == 1 && groups[0].Count == failed {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(groups) != 1 || groups[0].Count != failed || groups[0].Function != "api/hello" || groups[0].ErrorType != "HTTP 500" {
		t.Fatalf("errors = %+v; want one HTTP 500 group of %d", groups, failed)
	}
	id := strconv.FormatUint(uint64(groups[0].ID), 10)
	if text := viewer.must("errors", "shop"); !strings.Contains(text, "HTTP 500") || !strings.Contains(text, "api/hello") {
		t.Errorf("errors text:\n%s", text)
	}
	decode(t, viewer.must("errors", "shop", "--stage", "prod", "-o", "json"), &groups)
	if len(groups) != 0 {
		t.Errorf("errors of prod = %+v, want none", groups)
	}
	if code, _, errOut := viewer.run("errors", "shop", "--stage", "prdo"); code != 1 || !strings.Contains(errOut, "prdo") {
		t.Errorf("errors of a stage that does not exist: exit %d, %q; want a refusal naming it", code, errOut)
	}
	if code, _, errOut := viewer.run("errors", "resolve", "shop", id); code != 1 || !strings.Contains(errOut, "deployer") {
		t.Fatalf("a viewer resolved: exit %d, %q", code, errOut)
	}
	if text := deployer.must("errors", "resolve", "shop", id); !strings.Contains(text, "resolved") {
		t.Errorf("errors resolve printed %q", text)
	}
	decode(t, viewer.must("errors", "shop", "--stage", "dev", "-o", "json"), &groups)
	if len(groups) != 0 {
		t.Fatalf("open groups after resolving: %+v", groups)
	}
	decode(t, viewer.must("errors", "shop", "--all", "-o", "json"), &groups)
	if len(groups) != 1 || groups[0].ResolvedBy != "dee@example.com" {
		t.Fatalf("errors --all = %+v", groups)
	}
	if code, _, errOut := deployer.run("errors", "resolve", "shop", "99999"); code != 1 || !strings.Contains(errOut, "99999") {
		t.Errorf("resolving a group that does not exist: exit %d, %q", code, errOut)
	}
	if code, _, _ := deployer.run("errors", "resolve", "shop", "x"); code != 2 {
		t.Errorf("resolving id x: exit %d, want 2 (usage)", code)
	}
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, out)
	}
}
