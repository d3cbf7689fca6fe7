package web

import "testing"

// A build's output goes to the pusher's terminal: what could redraw it or
// hide git's own lines is left out, the text stays.
func TestTerminalSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "./main.go:10:17: undefined: v4broken", want: "./main.go:10:17: undefined: v4broken"},
		{name: "tab kept", in: "\tat main.go", want: "\tat main.go"},
		{name: "colours", in: "\x1b[31merror\x1b[0m: boom", want: "error: boom"},
		{name: "cursor and clear", in: "\x1b[2K\x1b[1Ahidden", want: "hidden"},
		{name: "window title", in: "\x1b]0;pwned\x07text", want: "text"},
		{name: "title ended by ST", in: "\x1b]0;pwned\x1b\\text", want: "text"},
		{name: "carriage return", in: "Build failed\rBuild OK    ", want: "Build failedBuild OK    "},
		{name: "bell and backspace", in: "a\x07b\x08c", want: "abc"},
		{name: "C1 control", in: "a\u009b31mb", want: "a31mb"},
		{name: "unicode kept", in: "déploiement ✓", want: "déploiement ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalSafe(tt.in); got != tt.want {
				t.Errorf("terminalSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
