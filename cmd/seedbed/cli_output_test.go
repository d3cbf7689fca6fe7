package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// decodeJSON fails the test unless out is exactly one JSON value of type T.
func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not JSON for %T: %v\n%s", v, err, out)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", out)
	}
	return v
}

// Every command that prints data prints, with --output json, the API's
// JSON and nothing else on stdout, against a real server: a script can
// parse it, even after --wait followed the logs (they go to stderr).
func TestCLIOutputJSON(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("jsonapp")
	c := a.loggedIn(t)

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out, errOut string)
	}{
		{"deploy --wait", []string{"deploy", "jsonapp", "--stage", "dev", "--wait", "--output", "json"}, func(t *testing.T, out, errOut string) {
			r := decodeJSON[apiv1.DeployResponse](t, out)
			if r.Build.Status != "succeeded" || r.Deploy.Status != "succeeded" || r.Deploy.Stage != "dev" {
				t.Errorf("deploy: build %q, deploy %q to %q; want both succeeded, to dev", r.Build.Status, r.Deploy.Status, r.Deploy.Stage)
			}
			if !strings.Contains(errOut, "Build succeeded") || !strings.Contains(errOut, "Live on dev") {
				t.Errorf("the followed logs are not on stderr:\n%s", errOut)
			}
		}},
		{"promote --yes --wait", []string{"promote", "jsonapp", "--from", "dev", "--yes", "--wait", "-o", "json"}, func(t *testing.T, out, errOut string) {
			d := decodeJSON[apiv1.Deploy](t, out)
			if d.Stage != "staging" || d.Status != "succeeded" {
				t.Errorf("promote: deploy to %q %q, want staging succeeded", d.Stage, d.Status)
			}
			if !strings.Contains(errOut, "Promote jsonapp: dev → staging") {
				t.Errorf("the preview is not on stderr:\n%s", errOut)
			}
		}},
		{"apps list", []string{"apps", "list", "-o", "json"}, func(t *testing.T, out, _ string) {
			apps := decodeJSON[[]apiv1.App](t, out)
			if len(apps) != 1 || apps[0].Name != "jsonapp" || apps[0].Branch != "main" {
				t.Errorf("apps = %+v", apps)
			}
		}},
		{"apps settings", []string{"apps", "settings", "jsonapp", "-o", "json"}, func(t *testing.T, out, _ string) {
			st := decodeJSON[apiv1.AppSettings](t, out)
			if st.Forge != "" || st.PollSeconds != 0 {
				t.Errorf("settings of a local repository = %+v, want no forge, no polling", st)
			}
		}},
		{"builds list", []string{"builds", "list", "jsonapp", "-o", "json"}, func(t *testing.T, out, _ string) {
			bs := decodeJSON[[]apiv1.Build](t, out)
			if len(bs) != 1 || bs[0].Status != "succeeded" || bs[0].Ref != "main" {
				t.Errorf("builds = %+v", bs)
			}
		}},
		{"builds list, none match", []string{"builds", "list", "jsonapp", "--status", "failed", "-o", "json"}, func(t *testing.T, out, _ string) {
			if strings.TrimSpace(out) != "[]" {
				t.Errorf("no builds match, got %q, want []", out)
			}
		}},
		{"builds logs", []string{"builds", "logs", "1", "-o", "json"}, func(t *testing.T, out, _ string) {
			lines := decodeJSON[[]apiv1.LogLine](t, out)
			if !slices.ContainsFunc(lines, func(l apiv1.LogLine) bool { return strings.Contains(l.Text, "Build succeeded") }) {
				t.Errorf("build log lines lack Build succeeded: %+v", lines)
			}
		}},
		{"stages list", []string{"stages", "list", "jsonapp", "-o", "json"}, func(t *testing.T, out, _ string) {
			stages := decodeJSON[[]apiv1.Stage](t, out)
			var names []string
			for _, st := range stages {
				names = append(names, st.Name)
			}
			if strings.Join(names, " ") != "dev staging prod" || stages[0].LiveRelease == nil || stages[2].LiveRelease != nil {
				t.Errorf("stages = %+v; want dev staging prod, dev live, prod not", stages)
			}
		}},
		{"env set, then list", []string{"env", "set", "jsonapp", "--stage", "dev", "GREETING=hi"}, nil},
		{"env list", []string{"env", "list", "jsonapp", "--stage", "dev", "-o", "json"}, func(t *testing.T, out, _ string) {
			vars := decodeJSON[[]apiv1.Var](t, out)
			if len(vars) != 1 || vars[0].Key != "GREETING" || vars[0].Value != "hi" {
				t.Errorf("vars = %+v", vars)
			}
		}},
		{"members list", []string{"members", "list", "jsonapp", "-o", "json"}, func(t *testing.T, out, _ string) {
			ms := decodeJSON[[]apiv1.Member](t, out)
			if len(ms) != 1 || ms[0].Email != adminEmail || ms[0].Role != "owner" {
				t.Errorf("members = %+v; want the creator as owner", ms)
			}
		}},
		{"users list", []string{"users", "list", "-o", "json"}, func(t *testing.T, out, _ string) {
			us := decodeJSON[[]apiv1.Account](t, out)
			if len(us) != 1 || us[0].Email != adminEmail || !us[0].IsAdmin {
				t.Errorf("users = %+v", us)
			}
		}},
		{"invites create", []string{"invites", "create", "kim@example.com", "--creator", "-o", "json"}, func(t *testing.T, out, _ string) {
			inv := decodeJSON[apiv1.Invite](t, out)
			if inv.Email != "kim@example.com" || !inv.IsCreator || !strings.Contains(inv.URL, "/invite/") {
				t.Errorf("invite = %+v", inv)
			}
		}},
		{"invites list", []string{"invites", "list", "-o", "json"}, func(t *testing.T, out, _ string) {
			invs := decodeJSON[[]apiv1.Invite](t, out)
			if len(invs) != 1 || invs[0].Email != "kim@example.com" {
				t.Errorf("invites = %+v", invs)
			}
		}},
		{"activity", []string{"activity", "-o", "json"}, func(t *testing.T, out, _ string) {
			es := decodeJSON[[]apiv1.ActivityEntry](t, out)
			if !slices.ContainsFunc(es, func(e apiv1.ActivityEntry) bool {
				return e.Kind == "deploy" && e.Stage == "staging" && e.App == "jsonapp"
			}) {
				t.Errorf("activity lacks the promotion to staging: %+v", es)
			}
		}},
		{"tokens create", []string{"tokens", "create", "ci", "-o", "json"}, func(t *testing.T, out, _ string) {
			r := decodeJSON[apiv1.CreateTokenResponse](t, out)
			if !strings.HasPrefix(r.Token, "sbt_") || r.Detail.Name != "ci" {
				t.Errorf("token = %+v", r)
			}
		}},
		{"tokens list", []string{"tokens", "list", "-o", "json"}, func(t *testing.T, out, _ string) {
			ts := decodeJSON[[]apiv1.Token](t, out)
			if !slices.ContainsFunc(ts, func(tok apiv1.Token) bool { return tok.Name == "ci" }) || !slices.ContainsFunc(ts, func(tok apiv1.Token) bool { return strings.HasPrefix(tok.Name, "cli@") }) {
				t.Errorf("tokens = %+v; want ci and the login's", ts)
			}
		}},
		{"sessions list", []string{"sessions", "list", "-o", "json"}, func(t *testing.T, out, _ string) {
			decodeJSON[[]apiv1.Session](t, out)
		}},
		{"stages create", []string{"stages", "create", "jsonapp", "qa", "--after", "staging", "-o", "json"}, func(t *testing.T, out, _ string) {
			st := decodeJSON[apiv1.Stage](t, out)
			if st.Name != "qa" {
				t.Errorf("stage = %+v", st)
			}
		}},
		{"stages order", []string{"stages", "order", "jsonapp", "dev", "qa", "staging", "prod", "-o", "json"}, func(t *testing.T, out, _ string) {
			stages := decodeJSON[[]apiv1.Stage](t, out)
			if len(stages) != 4 || stages[1].Name != "qa" {
				t.Errorf("stages = %+v", stages)
			}
		}},
		{"previews list", []string{"previews", "list", "jsonapp", "-o", "json"}, func(t *testing.T, out, _ string) {
			p := decodeJSON[apiv1.Previews](t, out)
			if p.TemplateStage != "" || len(p.Previews) != 0 {
				t.Errorf("previews = %+v, want off", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := c.run(tt.args...)
			if code != 0 {
				t.Fatalf("seedbed %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), code, out, errOut)
			}
			if tt.check != nil {
				tt.check(t, out, errOut)
			}
		})
	}

	// Completion offers the apps the signed-in user sees.
	if code, out, errOut := c.run("__complete", "deploy", ""); code != 0 || !strings.Contains(out, "jsonapp\n") {
		t.Errorf("completing an app name: exit %d, %q, %s; want jsonapp", code, out, errOut)
	}
}
