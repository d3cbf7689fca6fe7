package views

import (
	"testing"
	"time"

	"github.com/seedbed/seedbed/fnlog"
)

func functionLogsFixture() FunctionLogsModel {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	line := func(d time.Duration, fn, stream, level, text, cur string) fnlog.Line {
		return fnlog.Line{Time: at.Add(d), App: "shop", Stage: "dev", Function: fn, Instance: "4711", Release: 12,
			Stream: stream, Level: level, Text: text, Cursor: "00001796588726776093." + cur}
	}
	return FunctionLogsModel{
		Page: Page{Title: "Logs of dev · shop", UserEmail: "ada@example.com", CSRFToken: "tok", Nav: "apps"},
		App:  "shop", AppURL: "/apps/shop", Stage: "dev",
		Functions: []string{"api/hello", "jobs/worker"}, Function: "api/hello", Since: "1h",
		SinceChoices: []Choice{{Value: "15m", Label: "last 15 minutes"}, {Value: "1h", Label: "last hour"}, {Value: "", Label: "all kept"}},
		FormURL:      "/apps/shop/stages/dev/logs",
		Lines: []fnlog.Line{
			line(0, "api/hello", "stdout", "info", "listening on :8080", "40"),
			line(time.Second, "api/hello", "stdout", "warn", "WARN: cache is cold", "80"),
			line(2*time.Second, "api/hello", "stderr", "error", "panic: <b>boom</b> \x1b[31mred\x1b[0m", "130"),
			line(3*time.Second, "api/hello", "seedbed", "error", "the process exited with status 2; restarting in 200ms", "200"),
		},
		More:      true,
		StreamURL: "/apps/shop/stages/dev/logs/events?cursor=00001796588726776093.200&function=api%2Fhello",
	}
}

// The function logs page: filters filled in, lines with time, function,
// instance and level classes, escaped text with its colours, the live
// stream's URL.
func TestFunctionLogsGolden(t *testing.T) {
	checkGolden(t, "function-logs.golden.html", render(t, FunctionLogsPage(functionLogsFixture())))
	bad := functionLogsFixture()
	bad.Lines, bad.More, bad.StreamURL, bad.Error = nil, false, "", "since must be a duration back from now (15m, 2h, 7d) or a time such as 2026-12-06T10:00:00Z, not \"yesterday\"."
	bad.Since = "yesterday"
	checkGolden(t, "function-logs-error.golden.html", render(t, FunctionLogsPage(bad)))
}
