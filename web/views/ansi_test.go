package views

import (
	"strings"
	"testing"
)

func TestANSIHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain text is escaped", in: `<script>alert("x")</script> & co`, want: `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co`},
		{name: "red then reset", in: "\x1b[31mFAIL\x1b[0m done", want: `<span class="ansi-red">FAIL</span> done`},
		{name: "bold green, escaped inside", in: "\x1b[1;32m<ok>\x1b[m", want: `<span class="ansi-green ansi-bold">&lt;ok&gt;</span>`},
		{name: "bright and background", in: "\x1b[93;41mwarn\x1b[39;49m x", want: `<span class="ansi-bright-yellow ansi-bg-red">warn</span> x`},
		{name: "256-colour palette, named and not", in: "\x1b[38;5;9ma\x1b[38;5;200mb", want: `<span class="ansi-bright-red">a</span>b`},
		{name: "true colour is dropped, text kept", in: "\x1b[38;2;255;0;0mred\x1b[0m", want: `red`},
		{name: "cursor moves and erases are stripped", in: "\x1b[2K\x1b[1Gline\x1b[?25l", want: `line`},
		{name: "OSC title and hyperlink stripped", in: "\x1b]0;title\x07a \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", want: `a link`},
		{name: "carriage return keeps the last write", in: "10%\r50%\r100%", want: `100%`},
		{name: "other control characters dropped, tab kept", in: "a\tb\x00c\x08d", want: "a\tbcd"},
		{name: "dangling escape at the end", in: "x\x1b[31", want: `x`},
		{name: "class text cannot break out", in: "\x1b[31m\"><img src=x onerror=alert(1)>", want: `<span class="ansi-red">&#34;&gt;&lt;img src=x onerror=alert(1)&gt;</span>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ANSIHTML(tt.in); got != tt.want {
				t.Errorf("ANSIHTML(%q)\n got  %s\n want %s", tt.in, got, tt.want)
			}
		})
	}
}

// A log with colours renders in the build page's log as spans with classes,
// every other byte escaped (golden file).
func TestGoldenANSILog(t *testing.T) {
	lines := []LogLine{
		{ID: 1, Stream: "seedbed", Text: "\x1b[1mBuilding\x1b[0m api"},
		{ID: 2, Stream: "stdout", Text: "\x1b[32m✓\x1b[0m ok <pkg/a> 0.01s"},
		{ID: 3, Stream: "stderr", Text: "\x1b[31;1mFAIL\x1b[0m \x1b[2Kpkg/b & \"quotes\""},
		{ID: 4, Stream: "stdout", Text: "\x1b]0;window title\x07plain"},
	}
	got := render(t, logPanel(lines, "", "/builds/7/log.txt", "build-log"))
	checkGolden(t, "log-ansi.golden.html", got)
	for _, bad := range []string{"\x1b", "<pkg", "window title"} {
		if strings.Contains(got, bad) {
			t.Errorf("rendered log contains %q:\n%s", bad, got)
		}
	}
}
