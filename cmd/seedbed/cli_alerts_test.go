package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/web/apiv1"
)

func TestParseAlertsArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		want    alertsOptions
		wantErr string // in the usage error; "" for none
	}{
		{"list", "list shop", alertsOptions{Verb: "list", App: "shop"}, ""},
		{"list as json", "list shop --output json", alertsOptions{Verb: "list", App: "shop", JSON: true}, ""},
		{"webhook channel", "channel add shop hook --kind webhook --url https://x.example/h",
			alertsOptions{Verb: "channel-add", App: "shop", Name: "hook", Channel: apiv1.CreateAlertChannelRequest{Name: "hook", Kind: "webhook", URL: "https://x.example/h"}}, ""},
		{"email channel", "channel add shop oncall --kind email --to a@example.com,b@example.com",
			alertsOptions{Verb: "channel-add", App: "shop", Name: "oncall", Channel: apiv1.CreateAlertChannelRequest{Name: "oncall", Kind: "email", Addresses: "a@example.com,b@example.com"}}, ""},
		{"measured rule", "rule add shop errs --kind error_rate --channel hook --stage prod --threshold 2.5 --window 5m",
			alertsOptions{Verb: "rule-add", App: "shop", Name: "errs", Rule: apiv1.CreateAlertRuleRequest{Name: "errs", Kind: "error_rate", Channel: "hook", Stage: "prod", Threshold: 2.5, Window: "5m"}}, ""},
		{"remove rule", "rule remove shop errs", alertsOptions{Verb: "rule-remove", App: "shop", Name: "errs"}, ""},
		{"test channel", "channel test shop hook", alertsOptions{Verb: "channel-test", App: "shop", Name: "hook"}, ""},
		{"no verb", "", alertsOptions{}, "seedbed alerts list"},
		{"unknown verb", "mute shop", alertsOptions{}, "seedbed alerts list"},
		{"channel without kind", "channel add shop hook --url https://x.example", alertsOptions{}, "--kind"},
		{"rule without channel", "rule add shop r --kind build_failed", alertsOptions{}, "--channel"},
		{"threshold not a number", "rule add shop r --kind error_rate --channel c --threshold lots", alertsOptions{}, "not a number"},
		{"bad output", "list shop --output yaml", alertsOptions{}, "want text or json"},
		{"missing name", "rule remove shop", alertsOptions{}, "seedbed alerts list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAlertsArgs(strings.Fields(tc.args), io.Discard)
			if tc.wantErr != "" {
				var ue errUsage
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse %q = %v; want a usage error with %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parse %q = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}
