package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `seedbed apps settings` shows and changes an app's forge settings and
// never prints the token.
func TestCLIAppSettings(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	a.newAppRepo("cli-settings")
	home := t.TempDir()
	c := cli{t: t, env: map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "SEEDBED_SERVER": a.ConsoleURL(), "SEEDBED_TOKEN": a.api.Token}}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("glpat-cli-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.must("apps", "settings", "cli-settings"); !strings.Contains(out, "forge:    none") || !strings.Contains(out, "token:    not set") {
		t.Fatalf("fresh settings:\n%s", out)
	}
	out := c.must("apps", "settings", "cli-settings", "--forge", "gitlab", "--api-url", "https://gitlab.example.com", "--repo", "acme/shop", "--token-file", tokenFile, "--poll", "1m")
	for _, want := range []string{"Saved", "forge:    gitlab", "api url:  https://gitlab.example.com", "repo:     acme/shop", "token:    set", "polling:  every 1m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "glpat-cli-secret") {
		t.Fatal("the CLI printed the token")
	}
	if code, _, errOut := c.run("apps", "settings", "cli-settings", "--poll", "1s"); code == 0 || !strings.Contains(errOut, "poll") {
		t.Fatalf("--poll 1s: exit %d, %q", code, errOut)
	}
	if out := c.must("apps", "settings", "cli-settings", "--clear-token", "--poll", "0"); !strings.Contains(out, "token:    not set") || !strings.Contains(out, "polling:  off") {
		t.Fatalf("after --clear-token --poll 0:\n%s", out)
	}
}
