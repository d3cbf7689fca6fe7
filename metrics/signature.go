package metrics

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/seedbed/seedbed/metrics/observe"
)

// Signature names the error group a failure belongs to: its kind, its
// type and its message with the parts that vary between occurrences of
// the same fault (numbers, ids, hex addresses, quoted values) blanked, and
// the first line of its stack when it has one. Two failures with the same
// signature are one issue.
func Signature(f observe.Failure) string {
	h := sha256.New()
	h.Write([]byte(f.Kind))
	h.Write([]byte{0})
	h.Write([]byte(f.Type))
	h.Write([]byte{0})
	h.Write([]byte(Normalize(f.Message)))
	if f.Kind == observe.KindHandlerError {
		h.Write([]byte{0})
		h.Write([]byte(Normalize(topFrame(f.Excerpt))))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// topFrame is the first non-empty line of a stack trace.
func topFrame(stack string) string {
	for _, line := range strings.Split(stack, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// Normalize blanks what varies between occurrences of one fault: runs of
// digits become "#", words of hex (8 characters or more, with a digit)
// become "#", and quoted strings become "'…'". It keeps at most 300 bytes.
func Normalize(msg string) string {
	var sb strings.Builder
	words := strings.FieldsFunc(msg, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
	for i, w := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] {
			sb.WriteString("'…'")
			continue
		}
		if isHexID(w) {
			sb.WriteByte('#')
			continue
		}
		digits := false
		for j := 0; j < len(w); j++ {
			if w[j] >= '0' && w[j] <= '9' {
				if !digits {
					sb.WriteByte('#')
				}
				digits = true
				continue
			}
			digits = false
			sb.WriteByte(w[j])
		}
		if sb.Len() > 300 {
			break
		}
	}
	return clip(sb.String(), 300)
}

// isHexID tells words like 9f86d081884c7d65 or 0xc000123456 (or a UUID)
// that name one object apart.
func isHexID(w string) bool {
	w = strings.TrimPrefix(strings.Trim(w, ",.;:()[]{}"), "0x")
	if len(w) < 8 {
		return false
	}
	digit := false
	for _, r := range w {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'f', r >= 'A' && r <= 'F', r == '-':
		default:
			return false
		}
	}
	return digit
}
