package views

import (
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// logLines writes a log as one span per line, each followed by a newline, so
// the <pre> around it reads like the terminal did and assets/app.js can
// append streamed lines in the same shape. It is written by hand rather than
// in templ because whitespace inside <pre> is content.
func logLines(lines []LogLine) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(`<span class="`)
			b.WriteString(streamClass(l.Stream))
			b.WriteString(`" data-id="`)
			b.WriteString(strconv.FormatUint(uint64(l.ID), 10))
			b.WriteString(`">`)
			b.WriteString(ANSIHTML(l.Text))
			b.WriteString("</span>\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// uintStr formats an id.
func uintStr(n uint) string { return strconv.FormatUint(uint64(n), 10) }
