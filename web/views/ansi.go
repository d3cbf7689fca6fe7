package views

import (
	"html"
	"strconv"
	"strings"
)

// ansiNames are the eight basic terminal colours, in SGR order (30–37).
var ansiNames = [8]string{"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"}

// ansiStyle is the SGR state in effect while a line is read.
type ansiStyle struct {
	fg, bg                       string // class suffixes: "red", "bright-red"; "" is the default
	bold, dim, italic, underline bool
}

// classes names the style as CSS classes (see assets/app.css), "" for none.
func (s ansiStyle) classes() string {
	var c []string
	if s.fg != "" {
		c = append(c, "ansi-"+s.fg)
	}
	if s.bg != "" {
		c = append(c, "ansi-bg-"+s.bg)
	}
	if s.bold {
		c = append(c, "ansi-bold")
	}
	if s.dim {
		c = append(c, "ansi-dim")
	}
	if s.italic {
		c = append(c, "ansi-italic")
	}
	if s.underline {
		c = append(c, "ansi-underline")
	}
	return strings.Join(c, " ")
}

// colourIndex names a 256-colour palette index; only the 16 named colours
// get a class, the rest keep the default.
func colourIndex(n int) string {
	switch {
	case n >= 0 && n < 8:
		return ansiNames[n]
	case n >= 8 && n < 16:
		return "bright-" + ansiNames[n-8]
	}
	return ""
}

// apply changes the style by an SGR sequence's parameters ("31", "1;32",
// "38;5;196", "" meaning reset).
func (s *ansiStyle) apply(params string) {
	if params == "" {
		*s = ansiStyle{}
		return
	}
	parts := strings.Split(params, ";")
	for i := 0; i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			if parts[i] == "" {
				n = 0
			} else {
				continue
			}
		}
		switch {
		case n == 0:
			*s = ansiStyle{}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n >= 30 && n <= 37:
			s.fg = ansiNames[n-30]
		case n == 39:
			s.fg = ""
		case n >= 40 && n <= 47:
			s.bg = ansiNames[n-40]
		case n == 49:
			s.bg = ""
		case n >= 90 && n <= 97:
			s.fg = "bright-" + ansiNames[n-90]
		case n >= 100 && n <= 107:
			s.bg = "bright-" + ansiNames[n-100]
		case n == 38 || n == 48:
			// 38;5;N (palette) or 38;2;R;G;B (true colour).
			colour := ""
			if i+2 < len(parts) && parts[i+1] == "5" {
				idx, _ := strconv.Atoi(parts[i+2])
				colour = colourIndex(idx)
				i += 2
			} else if i+1 < len(parts) && parts[i+1] == "2" {
				i += 4
			}
			if n == 38 {
				s.fg = colour
			} else {
				s.bg = colour
			}
		}
	}
}

// ANSIHTML turns one log line as a terminal would show it into HTML: SGR
// colour and weight codes (ESC [ … m) become spans with ansi-* classes,
// every other escape sequence and control character is dropped, and all
// text is escaped. A carriage return keeps only what was written after it
// (progress bars), as a terminal overwrites the line.
func ANSIHTML(text string) string {
	if i := strings.LastIndexByte(strings.TrimRight(text, "\r"), '\r'); i >= 0 {
		text = text[i+1:]
	}
	if !hasControl(text) {
		return html.EscapeString(text)
	}
	var b strings.Builder
	var style ansiStyle
	var run strings.Builder
	flush := func() {
		if run.Len() == 0 {
			return
		}
		if cls := style.classes(); cls != "" {
			b.WriteString(`<span class="`)
			b.WriteString(cls)
			b.WriteString(`">`)
			b.WriteString(html.EscapeString(run.String()))
			b.WriteString(`</span>`)
		} else {
			b.WriteString(html.EscapeString(run.String()))
		}
		run.Reset()
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != 0x1b {
			if c < 0x20 && c != '\t' || c == 0x7f {
				continue
			}
			run.WriteByte(c)
			continue
		}
		// An escape sequence: find where it ends.
		if i+1 >= len(text) {
			break
		}
		switch text[i+1] {
		case '[': // CSI: parameters, intermediates, one final byte 0x40–0x7E.
			j := i + 2
			for j < len(text) && (text[j] < 0x40 || text[j] > 0x7e) {
				j++
			}
			if j >= len(text) {
				i = len(text)
				continue
			}
			if text[j] == 'm' {
				flush()
				style.apply(text[i+2 : j])
			}
			i = j
		case ']', 'P', '_', '^': // OSC and other strings: end at BEL or ESC \.
			j := i + 2
			for j < len(text) && text[j] != 0x07 && !(text[j] == 0x1b && j+1 < len(text) && text[j+1] == '\\') {
				j++
			}
			if j < len(text) && text[j] == 0x1b {
				j++
			}
			i = j
		default: // a two-byte escape, e.g. ESC ( B or ESC =.
			i++
			if (text[i] == '(' || text[i] == ')') && i+1 < len(text) {
				i++
			}
		}
	}
	flush()
	return b.String()
}

// hasControl tells whether s holds an escape or another control character
// besides tab.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
