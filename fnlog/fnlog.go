// Package fnlog keeps what function instances print: every line of their
// stdout and stderr, and the errors a Lambda-style runtime reports, with
// its time, app, stage, function, instance and release.
//
// Storage is a folder per stage under the data dir (Dir/APP/STAGE) of
// append-only segment files. A segment holds one line per record,
//
//	<unix µs>\t<source id>\t<stream><level>\t<text>\n
//
// and a small dictionary beside it (NAME.src) maps source ids to function,
// instance and release, so a line costs its text and about 25 bytes. The
// file names are the time of their first line, which is the index by time:
// lines are written in time order, a query skips whole segments outside
// its range and finds its start inside one by binary search. A text filter
// runs bytes.Index over the segment's bytes (memory-mapped), so a rare
// word is found at memory speed without decoding the lines around it.
//
// Durability: Append writes a batch with one write(2) before it returns,
// so a line handed to it is in the kernel's page cache and survives
// Seedbed stopping or being killed. Files are fsynced every SyncEvery and
// on Close; a machine crash can lose what was written in the last
// interval. A process always starts a new segment, never appends to one it
// did not create, and readers ignore a last line without its newline: a
// torn write costs that line, not the file.
//
// One process writes a stage's logs: the `seedbed serve` that runs its
// functions. Readers in the same process follow new lines as they are
// written (Follow); another process (seedbed gc) may read and prune.
package fnlog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Streams a line comes from.
const (
	StreamStdout  = "stdout"
	StreamStderr  = "stderr"
	StreamRuntime = "runtime" // an error the Lambda Runtime API was told
	StreamSeedbed = "seedbed" // what Seedbed says about the instance: crashes, restarts
)

// Levels a line is shown with (see DetectLevel).
const (
	LevelError = "error"
	LevelWarn  = "warn"
	LevelInfo  = "info"
	LevelDebug = "debug"
)

// MaxLineBytes is the longest text a line keeps; the rest is cut.
const MaxLineBytes = 16 << 10

// Source says who wrote a line: one instance of one function of a stage,
// started for one release.
type Source struct {
	App      string
	Stage    string
	Function string // "service/name"
	Instance string
	Release  uint // 0 when the instance was not started for a release
}

// Entry is a line as an instance wrote it, before it is stored.
type Entry struct {
	Time   time.Time
	Stream string
	// Level is detected from Stream and Text when empty.
	Level string
	Text  string
}

// Line is a stored line.
type Line struct {
	Time     time.Time `json:"time"`
	App      string    `json:"app"`
	Stage    string    `json:"stage"`
	Function string    `json:"function"`
	Instance string    `json:"instance"`
	Release  uint      `json:"release,omitempty"`
	Stream   string    `json:"stream"`
	Level    string    `json:"level"`
	Text     string    `json:"text"`
	// Cursor is the position just after this line: following from it
	// returns the lines written after it.
	Cursor string `json:"cursor"`
}

// Query selects the lines of one stage.
type Query struct {
	App, Stage string
	Function   string    // "service/name"; empty: every function
	Since      time.Time // zero: from the oldest kept line
	Until      time.Time // zero: to the newest
	Grep       string    // plain, case-sensitive substring of the text
	// Limit is how many of the newest matching lines to return; 0 means
	// DefaultLimit, and it is at most MaxLimit.
	Limit int
}

// Query limits.
const (
	DefaultLimit = 500
	MaxLimit     = 10_000
)

// Result is what a query found, oldest line first.
type Result struct {
	Lines []Line `json:"lines"`
	// Cursor is where the stage's log ended when it was read: following
	// from it returns exactly the lines written afterwards.
	Cursor string `json:"cursor"`
	// More says older lines matched beyond Limit.
	More bool `json:"more"`
}

// ErrBadQuery marks a query that cannot be answered as asked.
var ErrBadQuery = errors.New("bad log query")

// validName tells whether an app or stage name is safe as a folder name.
// Seedbed's own names are lowercase letters, digits and dashes.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func checkStage(app, stage string) error {
	if !validName(app) || !validName(stage) {
		return fmt.Errorf("%w: app %q, stage %q: names are letters, digits, '-', '_' and '.'", ErrBadQuery, app, stage)
	}
	return nil
}

// Stream and level codes in a record.
var (
	streamCodes = map[string]byte{StreamStdout: 'o', StreamStderr: 'e', StreamRuntime: 'r', StreamSeedbed: 's'}
	levelCodes  = map[string]byte{LevelError: 'E', LevelWarn: 'W', LevelInfo: 'I', LevelDebug: 'D'}
)

func streamOf(c byte) string {
	switch c {
	case 'o':
		return StreamStdout
	case 'e':
		return StreamStderr
	case 'r':
		return StreamRuntime
	case 's':
		return StreamSeedbed
	}
	return "?"
}

func levelOf(c byte) string {
	switch c {
	case 'E':
		return LevelError
	case 'W':
		return LevelWarn
	case 'D':
		return LevelDebug
	}
	return LevelInfo
}

// DetectLevel tells a line's level from the common ways programs write
// it, first match wins:
//
//   - a JSON object with "level", "lvl" or "severity" (slog, zap, pino's
//     numbers 50+ error, 40 warn, 20- debug, bunyan alike);
//   - logfmt "level=error" anywhere in the line;
//   - a leading word, optionally bracketed or after a timestamp:
//     ERROR/ERR/FATAL/PANIC/CRITICAL, WARN/WARNING, DEBUG/TRACE, INFO;
//     Go's "panic:" and a Python "Traceback" are errors too;
//   - otherwise stderr and the Runtime API's errors are errors, stdout
//     and Seedbed's notes are info.
func DetectLevel(stream, text string) string {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "{") {
		if l := jsonLevel(t); l != "" {
			return l
		}
	}
	if i := strings.Index(t, "level="); i >= 0 {
		if l := wordLevel(t[i+len("level="):]); l != "" {
			return l
		}
	}
	// A leading timestamp ("2026/12/06 10:00:00 ERROR ...") is skipped:
	// up to two words that start with a digit.
	rest := t
	for range 3 {
		word := strings.TrimLeft(rest, "[(<")
		if l := wordLevel(word); l != "" {
			return l
		}
		i := strings.IndexAny(rest, " \t")
		if i < 0 || rest == "" || rest[0] < '0' || rest[0] > '9' {
			break
		}
		rest = strings.TrimLeft(rest[i:], " \t")
	}
	if strings.HasPrefix(t, "panic:") || strings.HasPrefix(t, "Traceback (most recent call last)") || strings.HasPrefix(t, "fatal error:") {
		return LevelError
	}
	switch stream {
	case StreamStderr, StreamRuntime:
		return LevelError
	}
	return LevelInfo
}

// wordLevel reads a level name at the start of s, case-insensitively.
func wordLevel(s string) string {
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	if end == 0 || end > 8 {
		return ""
	}
	switch strings.ToLower(s[:end]) {
	case "error", "err", "fatal", "panic", "critical", "crit", "alert", "emerg":
		return LevelError
	case "warn", "warning":
		return LevelWarn
	case "debug", "trace":
		return LevelDebug
	case "info", "notice":
		return LevelInfo
	}
	return ""
}

// jsonLevel finds a "level", "lvl" or "severity" member without decoding
// the whole object: a log line can be long and most have one near the start.
func jsonLevel(t string) string {
	for _, key := range []string{`"level"`, `"lvl"`, `"severity"`} {
		i := strings.Index(t, key)
		if i < 0 {
			continue
		}
		v := strings.TrimLeft(t[i+len(key):], " \t")
		if !strings.HasPrefix(v, ":") {
			continue
		}
		v = strings.TrimLeft(v[1:], " \t")
		if strings.HasPrefix(v, `"`) {
			if l := wordLevel(v[1:]); l != "" {
				return l
			}
			continue
		}
		// pino and bunyan: numbers.
		n := 0
		digits := 0
		for digits < len(v) && v[digits] >= '0' && v[digits] <= '9' {
			n = n*10 + int(v[digits]-'0')
			digits++
		}
		if digits > 0 {
			switch {
			case n >= 50:
				return LevelError
			case n >= 40:
				return LevelWarn
			case n >= 30:
				return LevelInfo
			default:
				return LevelDebug
			}
		}
	}
	return ""
}
