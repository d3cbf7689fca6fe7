package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// runIn is run with stdin as the command's standard input.
func (c cli) runIn(stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return c.env[k] }, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// answerAfter is a person at the terminal: before answering, something
// happens (a push lands while they read the preview).
type answerAfter struct {
	once   sync.Once
	before func()
	answer io.Reader
}

func (r *answerAfter) Read(p []byte) (int, error) {
	r.once.Do(r.before)
	return r.answer.Read(p)
}

// loggedIn is a CLI logged in as the admin.
func (a *testApp) loggedIn(t *testing.T) cli {
	t.Helper()
	c := cli{t: t, env: map[string]string{"SEEDBED_CLI_CONFIG": filepath.Join(t.TempDir(), "cli.json")}}
	c.must("login", "--server", a.ConsoleURL(), "--email", adminEmail, "--password", adminPassword)
	return c
}

// A confirmed promotion deploys what was previewed: release A previewed,
// a new build deployed to dev, confirming A is refused (409, naming both);
// confirming the live one deploys exactly it. The CLI, answered "y" after
// dev moved, is refused the same way and changes nothing.
func TestPromotionDeploysWhatWasPreviewed(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("moving")
	ctx := context.Background()
	a.mustDeploy("moving", "dev", "")
	plan, err := a.api.PlanPromotion(ctx, "moving", apiv1.PromoteRequest{From: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	previewed := plan.Release
	repo.Commit("v2", map[string]string{"services/api/main.go": goFunction("v2")})
	live := a.mustDeploy("moving", "dev", "")
	if live.ReleaseID == previewed.ID {
		t.Fatalf("the second deploy kept release %d", live.ReleaseID)
	}

	var ae *apiv1.APIError
	_, err = a.api.Promote(ctx, "moving", apiv1.PromoteRequest{From: "dev", To: "staging", ReleaseID: previewed.ID})
	if !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("confirming release %d after dev moved to %d: %v, want 409", previewed.ID, live.ReleaseID, err)
	}
	for _, want := range []string{fmt.Sprintf("release #%d (build #%d) was previewed", previewed.ID, previewed.BuildID),
		fmt.Sprintf("release #%d (build #%d) is live now", live.ReleaseID, live.BuildID), "Review the promotion again"} {
		if !strings.Contains(ae.Error(), want) {
			t.Errorf("refusal %q lacks %q", ae.Error(), want)
		}
	}
	if a.liveRelease("moving", "staging") != nil {
		t.Fatal("a refused promotion changed staging")
	}

	d, err := a.api.Promote(ctx, "moving", apiv1.PromoteRequest{From: "dev", To: "staging", ReleaseID: live.ReleaseID})
	if err != nil {
		t.Fatal(err)
	}
	if d = a.waitDeploy(d.ID); d.Status != "succeeded" || d.ReleaseID != live.ReleaseID {
		t.Fatalf("promotion of the live release: %s, release %d; want succeeded, %d", d.Status, d.ReleaseID, live.ReleaseID)
	}
	if code, body := a.get("/moving/staging/hello"); code != 200 || body != "v2 hi /hello" {
		t.Fatalf("staging answered %d %q, want v2", code, body)
	}

	// The CLI: the preview names release #live; a push lands before "y".
	c := a.loggedIn(t)
	var moved apiv1.Deploy
	stdin := &answerAfter{answer: strings.NewReader("y\n"), before: func() {
		repo.Commit("v3", map[string]string{"services/api/main.go": goFunction("v3")})
		moved = a.mustDeploy("moving", "dev", "")
	}}
	repo.Commit("v2.1", map[string]string{"services/api/main.go": goFunction("v2.1")})
	shown := a.mustDeploy("moving", "dev", "")
	code, out, errOut := c.runIn(stdin, "promote", "moving", "--from", "dev")
	if code != 1 {
		t.Fatalf("promote answered y after dev moved: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := fmt.Sprintf("release #%d", shown.ReleaseID); !strings.Contains(out, want) {
		t.Errorf("the preview does not name %s:\n%s", want, out)
	}
	for _, want := range []string{fmt.Sprintf("release #%d (build #%d) was previewed", shown.ReleaseID, shown.BuildID),
		fmt.Sprintf("release #%d (build #%d) is live now", moved.ReleaseID, moved.BuildID)} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the CLI's refusal lacks %q:\n%s", want, errOut)
		}
	}
	if rel := a.liveRelease("moving", "staging"); rel == nil || rel.ID != live.ReleaseID {
		t.Fatalf("staging serves %+v after the refused CLI promotion, want release %d", rel, live.ReleaseID)
	}
	if code, body := a.get("/moving/staging/hello"); code != 200 || body != "v2 hi /hello" {
		t.Fatalf("staging answered %d %q after the refused CLI promotion, want v2", code, body)
	}
}

// crashOn is a function that exits at start when GREETING is "crash".
const crashOn = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if os.Getenv("GREETING") == "crash" {
		fmt.Fprintln(os.Stderr, "fatal: told to crash")
		os.Exit(3)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v2 %s %s", os.Getenv("GREETING"), r.URL.Path)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		os.Exit(1)
	}
}
`

var deployID = regexp.MustCompile(`Deploy #(\d+) to (\S+) is ([a-z ]+)\.`)

// promote, rollback and approve take --wait as deploy does: they print the
// deploy's progress, end once the stage serves the release, and exit
// non-zero if the deploy fails.
func TestCLIWaitOnPromoteRollbackApprove(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("waity")
	ctx := context.Background()
	a.mustDeploy("waity", "dev", "")
	repo.Commit("v2", map[string]string{"services/api/main.go": crashOn})
	a.mustDeploy("waity", "dev", "")
	c := a.loggedIn(t)

	tests := []struct {
		name    string
		setup   func(t *testing.T) []string // the command to run
		code    int
		stdout  []string
		stderr  []string
		stage   string
		serving string // what the stage answers afterwards
	}{
		{name: "promote", setup: func(*testing.T) []string {
			return []string{"promote", "waity", "--from", "dev", "--yes", "--wait"}
		}, stdout: []string{"Deploy succeeded", "Live on staging: " + a.gateway + "/waity/staging/"}, stage: "staging", serving: "v2 hi /hello"},
		{name: "approve", setup: func(t *testing.T) []string {
			if _, err := a.api.UpdateStage(ctx, "waity", "prod", apiv1.StageRequest{Approval: true}); err != nil {
				t.Fatal(err)
			}
			out := c.must("promote", "waity", "--from", "staging", "--yes")
			m := deployID.FindStringSubmatch(out)
			if m == nil || m[3] != "awaiting approval" {
				t.Fatalf("promote into prod printed:\n%s", out)
			}
			return []string{"approve", m[1], "--wait"}
		}, stdout: []string{"is queued", "Deploy succeeded", "Live on prod: "}, stage: "prod", serving: "v2 hi /hello"},
		{name: "rollback", setup: func(*testing.T) []string {
			return []string{"rollback", "waity", "--stage", "dev", "--wait"}
		}, stdout: []string{"Rolling dev back", "Deploy succeeded", "Live on dev: "}, stage: "dev", serving: "v1 hi /hello"},
		{name: "failed promotion", setup: func(t *testing.T) []string {
			if _, err := a.api.UpdateStage(ctx, "waity", "prod", apiv1.StageRequest{}); err != nil {
				t.Fatal(err)
			}
			if err := a.api.SetVar(ctx, "waity", "prod", "GREETING", apiv1.SetVarRequest{Value: "crash"}); err != nil {
				t.Fatal(err)
			}
			repo.Commit("v3", map[string]string{"services/api/main.go": strings.Replace(crashOn, "v2 ", "v3 ", 1)})
			a.mustDeploy("waity", "staging", "")
			return []string{"promote", "waity", "--from", "staging", "--yes", "--wait"}
		}, code: 1, stdout: []string{"Deploy failed", "exited with status 3"}, stderr: []string{"to prod failed"}, stage: "prod", serving: "v2 hi /hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.setup(t)
			code, out, errOut := c.run(args...)
			if code != tt.code {
				t.Fatalf("seedbed %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, tt.code, out, errOut)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			// No waiting here: --wait returned once the stage serves it.
			if code, body := a.get("/waity/" + tt.stage + "/hello"); code != 200 || body != tt.serving {
				t.Errorf("right after the command %s answered %d %q, want %q", tt.stage, code, body, tt.serving)
			}
		})
	}
}

// stages create --after puts the new stage right after the one named (not
// after prod); without it the stage goes last; an unknown stage is refused
// with the stages there are.
func TestCLIStagesCreateAfter(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("order")
	c := a.loggedIn(t)
	ctx := context.Background()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		want   string // the pipeline afterwards
	}{
		{name: "after staging", args: []string{"stages", "create", "order", "qa", "--after", "staging"},
			stdout: "Pipeline of order: dev → staging → qa → prod", want: "dev staging qa prod"},
		{name: "after the first", args: []string{"stages", "create", "order", "review", "--after", "dev"},
			stdout: "Pipeline of order: dev → review → staging → qa → prod", want: "dev review staging qa prod"},
		{name: "default last", args: []string{"stages", "create", "order", "canary"},
			want: "dev review staging qa prod canary"},
		{name: "unknown stage", args: []string{"stages", "create", "order", "uat", "--after", "nope"}, code: 1,
			stderr: `no stage "nope" to put the new stage after; its stages are: dev, review, staging, qa, prod, canary`, want: "dev review staging qa prod canary"},
		{name: "update does not move", args: []string{"stages", "update", "order", "qa", "--after", "dev"}, code: 1,
			stderr: "seedbed stages order", want: "dev review staging qa prod canary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := c.run(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("seedbed %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q / %q", strings.Join(tt.args, " "), code, tt.code, out, errOut, tt.stdout, tt.stderr)
			}
			stages, err := a.api.Stages(ctx, "order")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, st := range stages {
				names = append(names, st.Name)
			}
			if got := strings.Join(names, " "); got != tt.want {
				t.Fatalf("pipeline %q, want %q", got, tt.want)
			}
		})
	}
	// The API's position and after do not go together; after does not move
	// an existing stage.
	pos := 1
	var ae *apiv1.APIError
	if _, err := a.api.CreateStage(ctx, "order", apiv1.StageRequest{Name: "x", After: "dev", Position: &pos}); !errors.As(err, &ae) || ae.Status != 422 {
		t.Fatalf("position and after: %v, want 422", err)
	}
	if _, err := a.api.UpdateStage(ctx, "order", "qa", apiv1.StageRequest{After: "dev"}); !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Error(), "order") {
		t.Fatalf("after on an update: %v, want 422 pointing to the order", err)
	}
}
