package views

import (
	"context"
	"io"
	"strings"

	"github.com/a-h/templ"

	"github.com/seedbed/seedbed/fnlog"
)

// Choice is one option of a select.
type Choice struct {
	Value, Label string
}

// FunctionLogsModel is a stage's function log page, or one function's.
type FunctionLogsModel struct {
	Page         Page
	App, AppURL  string
	Stage        string
	Functions    []string // the keys of the functions the stage serves, for the filter
	Function     string   // the function shown; "" for every one
	Since        string   // the time range chosen (a duration such as "1h"; "" all)
	Grep         string
	SinceChoices []Choice
	FormURL      string // GET here with function, since and grep
	Lines        []fnlog.Line
	More         bool   // older lines matched beyond those shown
	StreamURL    string // follows new lines; empty when the range ends in the past
	Error        string // what is wrong with the filter, or why there are no logs
}

// FunctionLogLineHTML renders a function log line's inner HTML: its time,
// function and instance, then its text with ANSI colours rendered and
// everything else escaped. The page and its live stream share it.
func FunctionLogLineHTML(l fnlog.Line) string {
	var b strings.Builder
	b.WriteString(`<span class="fl-meta"><time datetime="`)
	b.WriteString(l.Time.Format("2006-01-02T15:04:05.000000Z07:00"))
	b.WriteString(`">`)
	b.WriteString(l.Time.UTC().Format("15:04:05.000"))
	b.WriteString(`</time> `)
	b.WriteString(templ.EscapeString(l.Function))
	b.WriteString(` <span class="fl-instance" title="instance`)
	if l.Release != 0 {
		b.WriteString(" of release #")
		b.WriteString(uintStr(l.Release))
	}
	b.WriteString(`">`)
	b.WriteString(templ.EscapeString(l.Instance))
	b.WriteString(`</span></span> `)
	b.WriteString(ANSIHTML(l.Text))
	return b.String()
}

// functionLogLines writes the lines as spans shaped like the streamed
// ones (see follow in assets/app.js), one a line inside the <pre>.
func functionLogLines(lines []fnlog.Line) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(`<span class="line stream-`)
			b.WriteString(templ.EscapeString(l.Stream))
			b.WriteString(` level-`)
			b.WriteString(templ.EscapeString(l.Level))
			b.WriteString(`" data-id="`)
			b.WriteString(templ.EscapeString(l.Cursor))
			b.WriteString(`">`)
			b.WriteString(FunctionLogLineHTML(l))
			b.WriteString("</span>\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
}
