package web_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

// A secret too short to be masked in logs is refused by the console (at
// the value field) and the API with the same message; a plain variable
// of that length is fine; nothing is stored.
func TestShortSecretsAreRefused(t *testing.T) {
	f, _ := settingsSetup(t)
	ctx := context.Background()
	const want = "The secret PIN is 2 characters long; a secret needs at least 8"

	c, _ := f.signIn(t)
	page := f.srv.URL + "/apps/shop/stages/dev/settings"
	form := url.Values{"key": {"PIN"}, "value": {"ab"}, "secret": {"on"}, "_csrf": {csrfFrom(t, c, page)}}
	resp, err := c.PostForm(f.srv.URL+"/apps/shop/stages/dev/vars", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := html.UnescapeString(string(b))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
		t.Fatalf("console: %d, want 422 and %q on the page", resp.StatusCode, want)
	}
	if !strings.Contains(string(b), `id="value" name="value" rows="2" spellcheck="false" autocomplete="off" aria-invalid`) {
		t.Error("console: the value field is not marked invalid")
	}

	api := apiv1.NewClient(f.srv.URL, f.token)
	err = api.SetVar(ctx, "shop", "dev", "PIN", apiv1.SetVarRequest{Value: "ab", Secret: true})
	var ae *apiv1.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Body.Message, want) {
		t.Fatalf("API: %v, want 422 and %q", err, want)
	}
	if vars, err := api.Vars(ctx, "shop", "dev"); err != nil || len(vars) != 0 {
		t.Fatalf("a refused secret was stored: %+v, %v", vars, err)
	}
	if err := api.SetVar(ctx, "shop", "dev", "PIN", apiv1.SetVarRequest{Value: "ab"}); err != nil {
		t.Fatalf("a short plain variable: %v", err)
	}
}
