package main

import (
	"strings"
	"testing"
)

// Wrong calls of seedbed alerts are usage errors (exit 2) that say what is
// missing, before any server is asked.
func TestAlertsCLIUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"alerts"}, "name a command"},
		{"unknown command", []string{"alerts", "mute", "shop"}, `unknown command "mute"`},
		{"list without app", []string{"alerts", "list"}, "missing APP"},
		{"channel without kind", []string{"alerts", "channel", "add", "shop", "hook", "--url", "https://x.example"}, `required flag(s) "kind" not set`},
		{"channel without name", []string{"alerts", "channel", "add", "shop", "--kind", "slack"}, "missing NAME"},
		{"rule without channel", []string{"alerts", "rule", "add", "shop", "r", "--kind", "build_failed"}, `required flag(s) "channel" not set`},
		{"threshold not a number", []string{"alerts", "rule", "add", "shop", "r", "--kind", "error_rate", "--channel", "c", "--threshold", "lots"}, "lots"},
		{"bad output", []string{"alerts", "list", "shop", "--output", "yaml"}, "want text or json"},
		{"remove without name", []string{"alerts", "rule", "remove", "shop"}, "missing NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runQuiet(tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("seedbed %s: exit %d, %q; want 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
			}
		})
	}
}
