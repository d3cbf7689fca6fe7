package pipelines

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// pemSecret is a multi-line secret as people store them: an SSH key.
const pemSecret = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDy0nR4kBnmD4AfbH8xZJnfq3lUxZ7Fh8WL0ThgxAAAAJiK3v1Hit79Rw
AAAAtzc2gtZWQyNTUxOQAAACDy0nR4kBnmD4AfbH8xZJnfq3lUxZ7Fh8WL0ThgxAAAAE
abc=
-----END OPENSSH PRIVATE KEY-----`

// secretLines are the lines of a secret a log must never show.
func secretLines(secret string) []string {
	var out []string
	for _, l := range strings.Split(secret, "\n") {
		if l = strings.TrimSpace(l); len(l) >= maskFloor {
			out = append(out, l)
		}
	}
	return out
}

func TestMaskerHidesSecretsInLogLines(t *testing.T) {
	jsonOf := func(s string) string {
		b, _ := json.Marshal(map[string]string{"key": s})
		return string(b)
	}
	tests := []struct {
		name    string
		secrets []string
		line    string
		hidden  []string // none of these may remain
		kept    []string // these must remain
	}{
		{"a one-line secret", []string{"s3cr3t-Value-9000"}, "key is s3cr3t-Value-9000.", []string{"s3cr3t-Value-9000"}, []string{"key is ", "."}},
		{"each line of a multi-line secret, printed line by line", []string{pemSecret}, "QyNTUxOQAAACDy0nR4kBnmD4AfbH8xZJnfq3lUxZ7Fh8WL0ThgxAAAAJiK3v1Hit79Rw", secretLines(pemSecret), nil},
		{"a line of a multi-line secret inside other text", []string{pemSecret}, "ssh: bad key line b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW here", secretLines(pemSecret), []string{"ssh: bad key line ", " here"}},
		{"a multi-line secret printed as JSON (newlines as \\n)", []string{pemSecret}, jsonOf(pemSecret), append(secretLines(pemSecret), `\n`), []string{`{"key":"`}},
		{"a multi-line secret printed with Go's %q", []string{"first-line-of-it\nsecond-line-of-it"}, `value: "first-line-of-it\nsecond-line-of-it"`, []string{"first-line-of-it", "second-line-of-it", `\n`}, []string{"value: "}},
		{"a secret in base64 (echo $S | base64)", []string{"s3cr3t-Value-9000"}, base64.StdEncoding.EncodeToString([]byte("s3cr3t-Value-9000\n")), []string{base64.StdEncoding.EncodeToString([]byte("s3cr3t-Value-9000"))[:20]}, nil},
		{"a secret that contains another is hidden whole", []string{"abcdefgh", "abcdefgh-and-more"}, "x abcdefgh-and-more y", []string{"abcdefgh", "and-more"}, []string{"x ", " y"}},
		{"short lines of a multi-line secret are not shredded into every log line", []string{"{\n  \"private_key\": \"k3y-material-here\"\n}"}, "{ ok }", []string{}, []string{"{ ok }"}},
		{"a stored secret of 3 characters is not masked (it would shred every line)", []string{"abc"}, "abcdef", nil, []string{"abcdef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m masker
			for _, s := range tt.secrets {
				m = m.add("S", s)
			}
			got := m.mask(tt.line)
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("mask(%q) = %q: %q is still there", tt.line, got, h)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("mask(%q) = %q: %q is gone", tt.line, got, k)
				}
			}
		})
	}
}

// memLog is a logStore that keeps lines in memory.
type memLog struct {
	mu    sync.Mutex
	lines []store.LogLine
}

func (m *memLog) AppendLog(_ context.Context, lines []store.LogLine) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = append(m.lines, lines...)
	return nil
}

func (m *memLog) text() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, l := range m.lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// A real command prints a multi-line secret every way a hook might: line
// by line, each line in pieces with pauses between the writes (the pipe
// delivers them as separate reads), as JSON, in base64, and across the
// point where a long line is cut. The stored log shows none of it.
func TestLogSinkMasksWhatARealCommandPrints(t *testing.T) {
	script := `
printf '%s\n' "$PEM"
printf '%s\n' "$PEM" | while IFS= read -r line; do
	printf 'piece:%s' "$(printf '%s' "$line" | cut -c1-9)"; sleep 0.05
	printf '%s\n' "$(printf '%s' "$line" | cut -c10-)"
done
printf '%s' "$PEM" | python3 -c 'import json,sys; print(json.dumps({"key": sys.stdin.read()}))'
printf '%s\n' "$PEM" | base64 -w0; echo
{ head -c 4090 /dev/zero | tr '\0' x; printf '%s\n' "$PEM" | sed -n 2p; }
`
	mem := &memLog{}
	var m masker
	m = m.add("PEM of stage dev", pemSecret)
	sink := newLogSink(mem, store.LogDeploy, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	b := builders.New(builders.Config{})
	env := append(builders.HookEnv(t.TempDir()), "PEM="+pemSecret)
	if err := b.RunHook(context.Background(), 1, t.TempDir(), env, "test hook", script, sink); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	text := mem.text()
	if !strings.Contains(text, "piece:"+maskText) || !strings.Contains(text, "bytes cut]") {
		t.Fatalf("the command's output did not arrive as expected:\n%.2000s", text)
	}
	for _, l := range secretLines(pemSecret) {
		if strings.Contains(text, l) {
			t.Errorf("the log shows the secret's line %q", l)
		}
	}
	// The line cut at 4096 bytes has the secret's second line across
	// the cut: not even its start may show.
	second := strings.Split(pemSecret, "\n")[1]
	if strings.Contains(text, "x"+second[:6]) {
		t.Errorf("the cut line shows the start of the secret's line %q", second)
	}
	if enc := base64.StdEncoding.EncodeToString([]byte(pemSecret))[:40]; strings.Contains(text, enc) {
		t.Errorf("the log shows the secret in base64")
	}
}

func TestLogSinkWarnsAboutShortStoredSecrets(t *testing.T) {
	mem := &memLog{}
	var m masker
	m = m.add("PIN of stage dev", "1234")
	sink := newLogSink(mem, store.LogBuild, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	sink.Line("stdout", "pin is 1234")
	sink.Close()
	text := mem.text()
	if !strings.Contains(text, "Warning: the secret PIN of stage dev is shorter than 8 characters") {
		t.Errorf("no warning about the short secret:\n%s", text)
	}
	if strings.Contains(text, "1234") {
		t.Errorf("a stored 4-character secret is no longer masked:\n%s", text)
	}
}

func TestCheckSecretValue(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     string // "" for accepted
	}{
		{"two characters", "ab", "is 2 characters long; a secret needs at least 8"},
		{"seven characters", "abcdefg", "at least 8"},
		{"eight characters", "abcdefgh", ""},
		{"padding does not count", "   abc   ", "is 3 characters long"},
		{"multi-line with only short lines", "abcd\nefgh\nijkl", "none of them 8 characters long"},
		{"multi-line with a long line", "{\n  \"k\": \"long-enough-value\"\n}", ""},
		{"a PEM key", pemSecret, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSecretValue("K", tt.value)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			case tt.wantErr != "" && ErrorCode(err) != EInvalid:
				t.Fatalf("err code = %q, want %q (a 400 for the API)", ErrorCode(err), EInvalid)
			}
		})
	}
}

func TestSealerKeyRing(t *testing.T) {
	key := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	old, err := NewSealer(key(0))
	if err != nil {
		t.Fatal(err)
	}
	next, _ := NewSealer(key(1))
	ring, _ := NewSealer(key(1), key(0))
	sealedOld, _ := old.Seal("value-one", "aad")
	sealedNext, _ := next.Seal("value-two", "aad")
	if got := SealedKeyID(sealedOld); got != old.KeyID() || !strings.HasPrefix(sealedOld, "v2:"+old.KeyID()+":") {
		t.Fatalf("sealed value %q does not name its key %s", sealedOld, old.KeyID())
	}
	// A value from before key ids (v1: nonce+ciphertext, no id).
	v1 := "v1:" + strings.TrimPrefix(sealedOld, "v2:"+old.KeyID()+":")

	tests := []struct {
		name    string
		s       *Sealer
		sealed  string
		aad     string
		want    string
		wantErr string
	}{
		{"own key", old, sealedOld, "aad", "value-one", ""},
		{"a ring opens under its older key", ring, sealedOld, "aad", "value-one", ""},
		{"a ring opens under its first key", ring, sealedNext, "aad", "value-two", ""},
		{"a v1 value opens by trying the ring", ring, v1, "aad", "value-one", ""},
		{"the old key alone does not open the new key's values, and says why", old, sealedNext, "aad", "", "sealed under key " + next.KeyID()},
		{"another place's aad", old, sealedOld, "other", "", "wrong key or damaged value"},
		{"not sealed", old, "-----BEGIN", "aad", "", "not a sealed value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Open(tt.sealed, tt.aad)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open = %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if s, _ := ring.Seal("x-value-3", "aad"); SealedKeyID(s) != next.KeyID() {
		t.Errorf("a ring seals under key %s, want its first key %s", SealedKeyID(s), next.KeyID())
	}
}

// resolve names, for the target, the env keys whose values hold a secret
// (a plain variable that embeds one too), and only those: plain values
// stay readable in what the target keeps of a function's output.
func TestResolveNamesSecretKeys(t *testing.T) {
	var m masker
	m = m.add("API_KEY of stage dev", "s3cr3t-Value-9000")
	fns := []targets.Function{{Service: "api", Name: "hello", Env: map[string]string{"MODE": "from-stack", "GREETING": "hi"}}}
	stageEnv := map[string]string{"API_KEY": "s3cr3t-Value-9000", "DSN": "postgres://u:s3cr3t-Value-9000@db/x", "MODE": "production"}
	tests := []struct {
		name   string
		secret masker
		want   []string
	}{
		{name: "secrets and what embeds them", secret: m, want: []string{"API_KEY", "DSN"}},
		{name: "no secrets", secret: masker{}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(fns, stageEnv, tt.secret)
			if !slices.Equal(got[0].Secrets, tt.want) {
				t.Errorf("Secrets = %v, want %v", got[0].Secrets, tt.want)
			}
			if got[0].Env["MODE"] != "production" || got[0].Env["GREETING"] != "hi" {
				t.Errorf("env = %v: the stage's variables win over the stack's, the stack's others stay", got[0].Env)
			}
		})
	}
}

func TestSealerDerivedKeys(t *testing.T) {
	key := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	old, _ := NewSealer(key(0))
	ring, _ := NewSealer(key(1), key(0))
	got := ring.DerivedKeys("queue-send-token")
	if len(got) != 2 || len(got[0]) != 32 {
		t.Fatalf("a ring of 2 keys derived %d keys", len(got))
	}
	if !bytes.Equal(got[1], old.DerivedKeys("queue-send-token")[0]) {
		t.Error("the ring's older key does not derive what that key alone derives")
	}
	for _, tc := range []struct {
		name string
		a, b []byte
	}{
		{"two keys", got[0], got[1]},
		{"two purposes", got[0], ring.DerivedKeys("other")[0]},
		{"the key itself", got[0], key(1)},
	} {
		if bytes.Equal(tc.a, tc.b) {
			t.Errorf("%s derive the same key", tc.name)
		}
	}
}
