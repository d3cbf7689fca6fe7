package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The stage settings page's target form: an owner moves a stage to
// kubernetes and back; bad settings come back at the form with what to do.
func TestStageTargetForm(t *testing.T) {
	f := setup(t)
	c, tok := f.signIn(t)
	page := func() string {
		resp, err := c.Get(f.srv.URL + "/apps/shop/stages/dev/settings")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if p := page(); !strings.Contains(p, `data-testid="target-form"`) || !strings.Contains(p, `<option value="local" selected`) {
		t.Fatalf("settings page lacks the target form on local:\n%s", p)
	}
	post := func(form url.Values) (int, string) {
		form.Set("_csrf", tok)
		resp, err := c.PostForm(f.srv.URL+"/apps/shop/stages/dev/target", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name string
		form url.Values
		code int
		want string
	}{
		{"bad namespace", url.Values{"target": {"kubernetes"}, "namespace": {"Not A Name"}}, http.StatusUnprocessableEntity, "is not a Kubernetes namespace name"},
		{"replicas not a number", url.Values{"target": {"kubernetes"}, "namespace": {"apps"}, "replicas": {"two"}}, http.StatusBadRequest, "two is not a whole number"},
		{"unknown target", url.Values{"target": {"mainframe"}}, http.StatusUnprocessableEntity, "use local or kubernetes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.form)
			if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `data-testid="target-form"`) {
				t.Errorf("status %d (want %d); body has %q: %v", code, tc.code, tc.want, strings.Contains(body, tc.want))
			}
		})
	}
	code, _ := post(url.Values{"target": {"kubernetes"}, "namespace": {"apps"}, "image": {"registry.example/seedbed:2"}, "replicas": {"2"}, "cpu": {"250m"}})
	if code != http.StatusSeeOther {
		t.Fatalf("saving kubernetes settings: %d", code)
	}
	p := page()
	for _, want := range []string{`<option value="kubernetes" selected`, `value="apps"`, `value="registry.example/seedbed:2"`, `value="250m"`, "runs on kubernetes from its next deploy"} {
		if !strings.Contains(p, want) {
			t.Errorf("page after saving lacks %q", want)
		}
	}
	if code, _ := post(url.Values{"target": {"local"}}); code != http.StatusSeeOther {
		t.Fatalf("back to local: %d", code)
	}
	if p := page(); !strings.Contains(p, `<option value="local" selected`) || strings.Contains(p, `value="apps"`) {
		t.Error("the page still shows kubernetes settings after moving back to local")
	}
}
