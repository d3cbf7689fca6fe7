package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/events"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// deployEventsApp creates and deploys testdata/events as app "ev" to dev.
func deployEventsApp(t *testing.T, a *testApp) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Unavailable(t, "node", err)
	}
	repo := testutil.NewRepo(t)
	repo.Commit("schedules and async invocations", testdataFiles(t, "testdata/events"))
	if _, err := a.api.CreateApp(context.Background(), apiv1.CreateAppRequest{Name: "ev", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatalf("create app: %v", err)
	}
	d := a.mustDeploy("ev", "dev", "")
	var detail []string
	for _, f := range d.ChangeSet.Functions {
		detail = append(detail, f.Detail...)
	}
	// The change set names the events it adds.
	for _, want := range []string{`event added: schedule "rate(2 seconds)"`, `event added: schedule "cron(0 3 * * ? *)"`} {
		if !slices.Contains(detail, want) {
			t.Errorf("change set details %q lack %q", detail, want)
		}
	}
}

// waitInvocation polls an invocation until done says it is where the test
// wants it.
func waitInvocation(t *testing.T, a *testApp, id string, done func(apiv1.Invocation) bool) apiv1.Invocation {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		inv, err := a.api.Invocation(context.Background(), "ev", "dev", id)
		if err != nil {
			t.Fatalf("invocation %s: %v", id, err)
		}
		if done(inv) {
			return inv
		}
		if time.Now().After(deadline) {
			t.Fatalf("invocation %s did not get there in time: %+v", id, inv)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func finished(inv apiv1.Invocation) bool {
	return inv.Status == store.InvocationSucceeded || inv.Status == store.InvocationDead || inv.Status == store.InvocationSkipped
}

// invokeAsync posts body to the work function without waiting.
func invokeAsync(t *testing.T, a *testApp, body string) string {
	t.Helper()
	resp := send(t, http.MethodPost, a.gateway+"/ev/dev/work", http.Header{"X-Seedbed-Invocation-Type": {"Event"}, "Content-Type": {"text/plain"}}, []byte(body))
	var out struct{ InvocationID string }
	if resp.status != http.StatusAccepted || json.Unmarshal(resp.body, &out) != nil || out.InvocationID == "" {
		t.Fatalf("async POST = %d %q, want 202 with an invocation id", resp.status, resp.body)
	}
	return out.InvocationID
}

// TestEventsAsyncInvocations calls a function without waiting: one that
// fails twice and then succeeds shows three attempts; one that always
// fails becomes a dead letter after its retries, its on-failure function
// gets a Lambda destination record, and a redrive runs it again.
func TestEventsAsyncInvocations(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	deployEventsApp(t, a)
	ctx := context.Background()

	id := invokeAsync(t, a, "fail-twice:a")
	inv := waitInvocation(t, a, id, finished)
	if inv.Status != store.InvocationSucceeded || inv.Attempts != 3 || inv.MaxAttempts != 3 || inv.Source != store.SourceAsync {
		t.Fatalf("fail-twice: %+v, want succeeded after 3 attempts", inv)
	}
	if inv.FinishedAt == nil || inv.StartedAt == nil || !strings.Contains(inv.LogExcerpt, "attempt 2 of a fails") {
		t.Errorf("fail-twice: times %v–%v, log excerpt %q", inv.StartedAt, inv.FinishedAt, inv.LogExcerpt)
	}

	id = invokeAsync(t, a, "always-fail")
	inv = waitInvocation(t, a, id, finished)
	if inv.Status != store.InvocationDead || inv.Attempts != 3 || !strings.Contains(inv.Error, "boom: always-fail") {
		t.Fatalf("always-fail: %+v, want dead after 3 attempts with the handler's error", inv)
	}
	ev, err := a.api.StageEvents(ctx, "ev", "dev", store.InvocationDead)
	if err != nil || len(ev.Invocations) != 1 || ev.Invocations[0].ID != id {
		t.Fatalf("dead letters = %+v, %v; want %s only", ev.Invocations, err, id)
	}
	// The on-failure function got the record of the dead invocation.
	var delivered apiv1.Invocation
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		all, err := a.api.StageEvents(ctx, "ev", "dev", "")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(all.Invocations, func(b apiv1.InvocationBrief) bool {
			return b.Source == store.SourceOnFailure && b.Status == store.InvocationSucceeded
		})
		if i >= 0 {
			delivered, _ = a.api.Invocation(ctx, "ev", "dev", all.Invocations[i].ID)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no on-failure delivery succeeded: %+v", all.Invocations)
		}
	}
	if delivered.Function != "jobs/dead" || !strings.Contains(delivered.LogExcerpt, "failure record: RetriesExhausted "+id) {
		t.Errorf("on-failure delivery %+v, want jobs/dead to log the record of %s", delivered, id)
	}

	// A redrive runs the dead letter again from zero attempts.
	red, err := a.api.Redrive(ctx, "ev", "dev", id)
	if err != nil || red.Queued != 1 {
		t.Fatalf("redrive = %+v, %v", red, err)
	}
	again := waitInvocation(t, a, id, func(i apiv1.Invocation) bool { return finished(i) && i.FinishedAt.After(*inv.FinishedAt) })
	if again.Status != store.InvocationDead || again.Attempts != 3 {
		t.Errorf("after the redrive: %+v, want dead again after 3 fresh attempts", again)
	}
	if _, err := a.api.Redrive(ctx, "ev", "dev", invokeAsync(t, a, "fine")); err == nil {
		t.Errorf("redriving an invocation that is not dead succeeded")
	}

	// The CLI lists, shows and redrives; a viewer may read but not act.
	as := func(email, password string) cli {
		c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
		c.must("login", "--server", a.ConsoleURL(), "--email", email, "--password", password)
		return c
	}
	admin := as(adminEmail, adminPassword)
	admin.must("users", "create", "--email", "vic@example.com", "--password", "long-enough")
	admin.must("members", "set", "ev", "vic@example.com", "--role", "viewer")
	if out := admin.must("invocations", "list", "ev", "dev", "--status", "dead"); !strings.Contains(out, id) || !strings.Contains(out, "boom: always-fail") {
		t.Errorf("invocations list --status dead:\n%s", out)
	}
	if out := admin.must("invocations", "show", "ev", "dev", id); !strings.Contains(out, "dead after 3 of 3 attempts") || !strings.Contains(out, "failing as told") {
		t.Errorf("invocations show:\n%s", out)
	}
	var scheds []apiv1.Schedule
	if err := json.Unmarshal([]byte(admin.must("schedules", "list", "ev", "dev", "--output", "json")), &scheds); err != nil || len(scheds) != 2 {
		t.Errorf("schedules list --output json: %+v, %v", scheds, err)
	}
	vic := as("vic@example.com", "long-enough")
	if out := vic.must("schedules", "list", "ev", "dev"); !strings.Contains(out, "rate(2 seconds)") {
		t.Errorf("a viewer lists schedules:\n%s", out)
	}
	for _, args := range [][]string{{"invocations", "redrive", "ev", "dev"}, {"schedules", "run", "ev", "dev", scheds[0].ID}, {"schedules", "pause", "ev", "dev", scheds[0].ID}} {
		if code, _, errOut := vic.run(args...); code != 1 || !strings.Contains(errOut, "needs the deployer role") {
			t.Errorf("a viewer runs %q: exit %d, %q", args, code, errOut)
		}
	}
	if out := admin.must("invocations", "redrive", "ev", "dev"); !strings.Contains(out, "Queued 1 dead invocation") {
		t.Errorf("invocations redrive:\n%s", out)
	}

	// An unknown invocation type is refused; an oversized event too.
	if resp := send(t, http.MethodPost, a.gateway+"/ev/dev/work", http.Header{"X-Seedbed-Invocation-Type": {"Whenever"}}, nil); resp.status != http.StatusBadRequest {
		t.Errorf("unknown invocation type: %d %q", resp.status, resp.body)
	}
	big := strings.Repeat("x", events.DefaultMaxPayload)
	if resp := send(t, http.MethodPost, a.gateway+"/ev/dev/work", http.Header{"X-Seedbed-Invocation-Type": {"Event"}}, []byte(big)); resp.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized async event: %d %q", resp.status, resp.body)
	}
}

// TestEventsSchedulesOnePerTickAcrossProcesses runs two serve processes on
// one PostgreSQL and one Redis: a rate(2 seconds) schedule fires once per
// tick, on time, whichever process claims it; pausing it stops the ticks
// and "run now" runs it at once.
func TestEventsSchedulesOnePerTickAcrossProcesses(t *testing.T) {
	shared := backend{"postgres+redis shared",
		func() func(t *testing.T, _ string) string {
			var url string
			return func(t *testing.T, _ string) string {
				if url == "" {
					url = testutil.PostgresURL(t)
				}
				return url
			}
		}(),
		func() func(t *testing.T) string {
			var url string
			return func(t *testing.T) string {
				if url == "" {
					url = testutil.RedisURL(t)
				}
				return url
			}
		}()}
	fast := func(c *Config) { c.ScheduleTick = 50 * time.Millisecond }
	a := startAppWith(t, shared, fast)
	deployEventsApp(t, a)
	// The second process restores the deployed stage at start, from the
	// artifacts the first built (processes share artifacts the way a
	// shared volume would let them).
	b := startAppWith(t, shared, func(c *Config) {
		fast(c)
		if err := os.CopyFS(filepath.Join(c.DataDir, "artifacts"), os.DirFS(filepath.Join(a.cfg.DataDir, "artifacts"))); err != nil {
			t.Fatal(err)
		}
	})

	ctx := context.Background()
	st, err := a.store.StageByName(ctx, mustApp(t, a, "ev").ID, "dev")
	if err != nil {
		t.Fatal(err)
	}
	tick := mustSchedule(t, a, "jobs/tick")
	nightly := mustSchedule(t, a, "nodejobs/nightly")
	if nightly.NextRun == nil || nightly.NextRun.Hour() != 3 || nightly.NextRun.Minute() != 0 {
		t.Errorf("cron(0 3 * * ? *) next runs at %v, want 03:00 UTC", nightly.NextRun)
	}
	start := time.Now()
	time.Sleep(9 * time.Second)
	end := time.Now()

	invs, err := a.store.Invocations(ctx, store.InvocationFilter{StageID: st.ID, ScheduleID: tick.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byTick := map[time.Time]int{}
	var lags []time.Duration
	for _, inv := range invs {
		if inv.Source != store.SourceSchedule || inv.DueAt == nil {
			continue
		}
		byTick[inv.DueAt.UTC()]++
		if inv.Status == store.InvocationSucceeded && inv.StartedAt != nil {
			lags = append(lags, inv.StartedAt.Sub(*inv.DueAt))
		}
	}
	// Every tick strictly inside the window fired exactly once.
	sched, _ := stack.ParseSchedule("rate(2 seconds)", "")
	want := 0
	for due := sched.Next(start.Add(time.Second)); due.Before(end.Add(-time.Second)); due = sched.Next(due) {
		want++
		if n := byTick[due.UTC()]; n != 1 {
			t.Errorf("tick %s fired %d times, want once", due.UTC().Format(time.RFC3339), n)
		}
	}
	for due, n := range byTick {
		if n != 1 {
			t.Errorf("tick %s has %d invocations", due.Format(time.RFC3339), n)
		}
	}
	if want < 3 || len(lags) < want {
		t.Fatalf("%d ticks due, %d ran: %+v", want, len(lags), byTick)
	}
	for _, l := range lags {
		if l < 0 || l > 2*time.Second {
			t.Errorf("a tick started %s after its due time", l)
		}
	}

	// Run now, then pause: no tick fires while paused.
	q, err := b.api.RunSchedule(ctx, "ev", "dev", tick.ID)
	if err != nil {
		t.Fatal(err)
	}
	if inv := waitInvocation(t, a, q.InvocationID, finished); inv.Status != store.InvocationSucceeded || inv.Source != store.SourceManual {
		t.Errorf("run now: %+v", inv)
	}
	if err := a.api.PauseSchedule(ctx, "ev", "dev", tick.ID, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a tick claimed just before the pause may still run
	before := countTicks(t, a, st.ID, tick.ID)
	time.Sleep(4500 * time.Millisecond)
	if after := countTicks(t, a, st.ID, tick.ID); after != before {
		t.Errorf("%d ticks fired while the schedule was paused", after-before)
	}
	if s := mustSchedule(t, b, "jobs/tick"); !s.Paused || s.NextRun != nil || s.Last == nil {
		t.Errorf("paused schedule reads %+v", s)
	}

	// Resumed, with the first process gone: the second fires every tick
	// on its own.
	if err := b.api.PauseSchedule(ctx, "ev", "dev", tick.ID, false); err != nil {
		t.Fatal(err)
	}
	a.Close(ctx)
	resumed := time.Now()
	time.Sleep(5 * time.Second)
	checked := time.Now()
	invs, err = b.store.Invocations(ctx, store.InvocationFilter{StageID: st.ID, ScheduleID: tick.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	fired := map[time.Time]int{}
	for _, inv := range invs {
		if inv.Source == store.SourceSchedule && inv.DueAt.After(resumed) {
			fired[inv.DueAt.UTC()]++
			if inv.Status != store.InvocationSucceeded && inv.DueAt.Before(checked.Add(-time.Second)) {
				t.Errorf("tick %s after the first process stopped: %s %s", inv.DueAt, inv.Status, inv.Error)
			}
		}
	}
	if len(fired) < 2 {
		t.Errorf("after the first process stopped, %d ticks fired in 5s, want 2 or more", len(fired))
	}
	for due, n := range fired {
		if n != 1 {
			t.Errorf("tick %s fired %d times", due, n)
		}
	}
}

func countTicks(t *testing.T, a *testApp, stageID uint, scheduleID string) int {
	t.Helper()
	invs, err := a.store.Invocations(context.Background(), store.InvocationFilter{StageID: stageID, ScheduleID: scheduleID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, inv := range invs {
		if inv.Source == store.SourceSchedule {
			n++
		}
	}
	return n
}

func mustSchedule(t *testing.T, a *testApp, fn string) apiv1.Schedule {
	t.Helper()
	ev, err := a.api.StageEvents(context.Background(), "ev", "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ev.Schedules {
		if s.Function == fn {
			return s
		}
	}
	t.Fatalf("no schedule of %s in %+v", fn, ev.Schedules)
	return apiv1.Schedule{}
}

func mustApp(t *testing.T, a *testApp, name string) store.App {
	t.Helper()
	app, err := a.store.AppByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestEventsKillDuringAsyncInvocation kills `seedbed serve` (the real
// binary, on SQLite and its embedded queue, which keeps nothing) while an
// async invocation runs, and starts it again: the invocation runs again
// and succeeds, its killed attempt counted (at least once, as documented).
func TestEventsKillDuringAsyncInvocation(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots the real binary twice")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Unavailable(t, "node", err)
	}
	dir := t.TempDir()
	console, gateway := freeAddr(t), freeAddr(t)
	env := append(testutil.GoEnv(t),
		"SEEDBED_DATA_DIR="+dir, "SEEDBED_ADDR="+console, "SEEDBED_GATEWAY_ADDR="+gateway,
		"SEEDBED_ADMIN_EMAIL="+adminEmail, "SEEDBED_ADMIN_PASSWORD="+adminPassword)
	consoleURL, gatewayURL := "http://"+console, "http://"+gateway
	srv := startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	ctx := context.Background()
	api := apiv1.NewClient(consoleURL, "")
	login, err := api.Login(ctx, apiv1.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	api.Token = login.Token
	repo := testutil.NewRepo(t)
	repo.Commit("events", testdataFiles(t, "testdata/events"))
	if _, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "ev", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	d, err := api.Deploy(ctx, "ev", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, api, d.Deploy.ID, "succeeded", srv)

	resp := send(t, http.MethodPost, gatewayURL+"/ev/dev/work", http.Header{"X-Seedbed-Invocation-Type": {"Event"}, "Content-Type": {"text/plain"}}, []byte("sleep:4000"))
	var accepted struct{ InvocationID string }
	if resp.status != http.StatusAccepted || json.Unmarshal(resp.body, &accepted) != nil {
		t.Fatalf("async POST = %d %q", resp.status, resp.body)
	}
	id := accepted.InvocationID
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		inv, err := api.Invocation(ctx, "ev", "dev", id)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status == store.InvocationRunning {
			break
		}
		if finished(inv) || time.Now().After(deadline) {
			t.Fatalf("invocation is %s before it could be interrupted", inv.Status)
		}
	}
	time.Sleep(500 * time.Millisecond)
	srv.kill()

	srv = startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		inv, err := api.Invocation(ctx, "ev", "dev", id)
		if err != nil {
			t.Fatal(err)
		}
		if finished(inv) {
			if inv.Status != store.InvocationSucceeded || inv.Attempts != 2 {
				t.Fatalf("after the restart: %+v, want succeeded on its second attempt\n%s", inv, srv.logs.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interrupted invocation is still %s after the restart\n%s", inv.Status, srv.logs.String())
		}
	}
}

// TestEventsQueues sends messages through the gateway and the API to a
// queue an aws-lambda-go SQSEvent handler consumes in batches: good
// messages are taken once, a poison message (reported in
// batchItemFailures) is received max_receives times and lands in the dead
// letters, and a redrive puts it back.
func TestEventsQueues(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	deployEventsApp(t, a)
	ctx := context.Background()
	sendURL := a.gateway + "/ev/dev/_seedbed/queues/orders"
	creds, err := a.api.QueueCredentials(ctx, "ev", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if creds.SendURL+"orders" != sendURL {
		t.Errorf("send URL %q, want %q + the queue", creds.SendURL, sendURL)
	}
	withToken := http.Header{"Authorization": {"Bearer " + creds.Token}}
	for _, body := range []string{"order 1", "poison 1", "order 2"} {
		if resp := send(t, http.MethodPost, sendURL, withToken, []byte(body)); resp.status != http.StatusAccepted || !strings.Contains(string(resp.body), "messageId") {
			t.Fatalf("send %q: %d %q", body, resp.status, resp.body)
		}
	}
	if _, err := a.api.SendMessage(ctx, "ev", "dev", "orders", "order 3"); err != nil {
		t.Fatal(err)
	}
	if resp := send(t, http.MethodPost, a.gateway+"/ev/dev/_seedbed/queues/nope", withToken, []byte("x")); resp.status != http.StatusNotFound {
		t.Errorf("send to an undeclared queue: %d %q", resp.status, resp.body)
	}
	if resp := send(t, http.MethodGet, sendURL, withToken, nil); resp.status != http.StatusMethodNotAllowed {
		t.Errorf("GET on the send path: %d", resp.status)
	}
	// Without the stage's own token nothing is queued: the refusal says
	// where the token comes from, and an undeclared queue is not told
	// apart from a declared one.
	prod, err := a.api.QueueCredentials(ctx, "ev", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if prod.Token == creds.Token {
		t.Fatal("dev and prod have the same send token")
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		url    string
	}{
		{"no token", nil, sendURL},
		{"no token, undeclared queue", nil, a.gateway + "/ev/dev/_seedbed/queues/nope"},
		{"wrong token", http.Header{"Authorization": {"Bearer sbq1_" + strings.Repeat("A", 43)}}, sendURL},
		{"token of another stage", http.Header{"Authorization": {"Bearer " + prod.Token}}, sendURL},
		{"token as basic auth", http.Header{"Authorization": {"Basic " + creds.Token}}, sendURL},
		{"dev's token on another app", withToken, a.gateway + "/other/dev/_seedbed/queues/orders"},
	} {
		resp := send(t, http.MethodPost, tc.url, tc.header, []byte("forged "+tc.name))
		if resp.status != http.StatusUnauthorized || !strings.Contains(string(resp.body), "SEEDBED_QUEUE_TOKEN") ||
			!strings.Contains(string(resp.body), "seedbed queues token") {
			t.Errorf("%s: %d %q, want 401 saying where the token comes from", tc.name, resp.status, resp.body)
		}
	}

	waitDead := func(want int) []apiv1.DeadMessage {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			dead, err := a.api.DeadMessages(ctx, "ev", "dev", "orders")
			if err != nil {
				t.Fatal(err)
			}
			qs, err := a.api.Queues(ctx, "ev", "dev")
			if err != nil || len(qs) != 1 {
				t.Fatalf("queues = %+v, %v", qs, err)
			}
			if len(dead) == want && qs[0].Depth == 0 && qs[0].DeadLetters == want {
				return dead
			}
			if time.Now().After(deadline) {
				t.Fatalf("dead letters %+v, queue %+v; want %d dead and none waiting", dead, qs[0], want)
			}
		}
	}
	dead := waitDead(1)
	if dead[0].Body != "poison 1" || dead[0].Receives != 2 {
		t.Fatalf("dead letter %+v, want poison 1 received twice (max_receives: 2)", dead[0])
	}
	// Every good message was taken, each once.
	ev, err := a.api.StageEvents(ctx, "ev", "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	took := map[string]int{}
	for _, b := range ev.Invocations {
		if b.Source != store.SourceQueue {
			continue
		}
		inv, err := a.api.Invocation(ctx, "ev", "dev", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Function != "jobs/consume" {
			t.Errorf("a batch ran %s", inv.Function)
		}
		for _, line := range strings.Split(inv.LogExcerpt, "\n") {
			if m, ok := strings.CutPrefix(line, "took "); ok {
				took[m]++
			}
		}
	}
	// The excerpt holds the output up to each batch's answer, so a line may
	// show in several batches' excerpts: count distinct messages.
	for _, want := range []string{"order 1 receive 1", "order 2 receive 1", "order 3 receive 1"} {
		if took[want] == 0 {
			t.Errorf("no batch took %q: %v", want, took)
		}
	}
	for m := range took {
		if !strings.HasSuffix(m, "receive 1") {
			t.Errorf("a good message was received again: %q", m)
		}
	}

	// Redrive: the poison message is received twice more, then dead again.
	r, err := a.api.RedriveQueue(ctx, "ev", "dev", "orders")
	if err != nil || r.Count != 1 {
		t.Fatalf("redrive = %+v, %v", r, err)
	}
	time.Sleep(500 * time.Millisecond)
	if dead := waitDead(1); dead[0].Receives != 2 {
		t.Errorf("after the redrive: %+v", dead)
	}
	if _, err := a.api.PurgeQueue(ctx, "ev", "dev", "orders"); err != nil {
		t.Errorf("purge: %v", err)
	}

	// The CLI lists, sends, shows the dead letters and redrives.
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	// --stage stands for STAGE, as in seedbed logs.
	if out := c.must("queues", "list", "ev", "--stage", "dev"); !strings.Contains(out, "orders") || !strings.Contains(out, "jobs/consume") {
		t.Errorf("queues list:\n%s", out)
	}
	if out := c.must("queues", "dead", "ev", "dev", "orders"); !strings.Contains(out, "poison 1") {
		t.Errorf("queues dead:\n%s", out)
	}
	if out := c.must("queues", "send", "ev", "dev", "orders", "order 4"); !strings.Contains(out, "Sent message") {
		t.Errorf("queues send:\n%s", out)
	}
	if out := c.must("queues", "redrive", "ev", "dev", "orders"); !strings.Contains(out, "Put 1 dead letter") {
		t.Errorf("queues redrive:\n%s", out)
	}
	if out := c.must("queues", "token", "ev", "dev"); strings.TrimSpace(out) != creds.Token {
		t.Errorf("queues token printed %q, want %q", out, creds.Token)
	}
	// No forged message reached the queue: the consumer never took one.
	ev, err = a.api.StageEvents(ctx, "ev", "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range ev.Invocations {
		inv, err := a.api.Invocation(ctx, "ev", "dev", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(inv.LogExcerpt, "forged") {
			t.Errorf("a forged message was delivered: %q", inv.LogExcerpt)
		}
	}
}

// TestEventsKillDuringQueueBatch kills `seedbed serve` (the real binary)
// with kill -9 while its consumer works on a batch and more messages wait,
// and starts it again: on the embedded default (SQLite + the in-process
// queue, which keeps nothing across the restart) and on PostgreSQL +
// Redis, every message sent is taken by the subscriber; none is lost.
func TestEventsKillDuringQueueBatch(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots the real binary twice per backend")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Unavailable(t, "node", err)
	}
	for _, backend := range []string{"embedded", "postgres+redis"} {
		t.Run(backend, func(t *testing.T) {
			var extra []string
			if backend != "embedded" {
				extra = []string{"SEEDBED_DATABASE_URL=" + testutil.PostgresURL(t), "SEEDBED_REDIS_URL=" + testutil.RedisURL(t)}
			}
			killDuringQueueBatch(t, extra)
		})
	}
}

func killDuringQueueBatch(t *testing.T, extra []string) {
	dir := t.TempDir()
	console, gateway := freeAddr(t), freeAddr(t)
	env := append(testutil.GoEnv(t),
		"SEEDBED_DATA_DIR="+dir, "SEEDBED_ADDR="+console, "SEEDBED_GATEWAY_ADDR="+gateway,
		"SEEDBED_ADMIN_EMAIL="+adminEmail, "SEEDBED_ADMIN_PASSWORD="+adminPassword)
	env = append(env, extra...)
	consoleURL, gatewayURL := "http://"+console, "http://"+gateway
	srv := startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	ctx := context.Background()
	api := apiv1.NewClient(consoleURL, "")
	login, err := api.Login(ctx, apiv1.LoginRequest{Email: adminEmail, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	api.Token = login.Token
	repo := testutil.NewRepo(t)
	repo.Commit("events", testdataFiles(t, "testdata/events"))
	if _, err := api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "ev", RepoURL: repo.Dir}); err != nil {
		t.Fatal(err)
	}
	d, err := api.Deploy(ctx, "ev", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, api, d.Deploy.ID, "succeeded", srv)

	creds, err := api.QueueCredentials(ctx, "ev", "dev")
	if err != nil {
		t.Fatal(err)
	}
	withToken := http.Header{"Authorization": {"Bearer " + creds.Token}}
	// The slow message keeps the consumer (concurrency 1) busy for 5 s;
	// the others wait behind it.
	bodies := []string{"slow a"}
	for i := range 12 {
		bodies = append(bodies, fmt.Sprintf("order %c", 'b'+i))
	}
	for _, b := range bodies {
		if resp := send(t, http.MethodPost, gatewayURL+"/ev/dev/_seedbed/queues/orders", withToken, []byte(b)); resp.status != http.StatusAccepted {
			t.Fatalf("send %q: %d %q", b, resp.status, resp.body)
		}
	}
	// A batch is under way once fewer messages wait than were sent (the
	// batch holds the others: nothing is deleted before it ends).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		qs, err := api.Queues(ctx, "ev", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) == 1 && qs[0].Depth < len(bodies) && qs[0].Depth > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no batch took messages while others waited: %+v", qs)
		}
	}
	time.Sleep(time.Second)
	srv.kill()

	srv = startServer(t, env)
	waitHealthy(t, consoleURL, srv)
	took := map[string]bool{}
	for deadline := time.Now().Add(2 * time.Minute); len(took) < len(bodies); time.Sleep(time.Second) {
		ev, err := api.StageEvents(ctx, "ev", "dev", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ev.Invocations {
			if b.Source != store.SourceQueue || b.Status != store.InvocationSucceeded {
				continue
			}
			inv, err := api.Invocation(ctx, "ev", "dev", b.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range bodies {
				if strings.Contains(inv.LogExcerpt, "took "+body+" ") {
					took[body] = true
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart only %d of %d messages were taken: %v\n%s", len(took), len(bodies), took, srv.logs.String())
		}
	}
	qs, err := api.Queues(ctx, "ev", "dev")
	if err != nil || len(qs) != 1 || qs[0].DeadLetters != 0 {
		t.Errorf("queue after: %+v, %v", qs, err)
	}
}
