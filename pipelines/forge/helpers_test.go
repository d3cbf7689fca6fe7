package forge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testSecret = "It's a Secret to Everybody"

// fixture reads testdata/<name>.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// hmacHex is the hex HMAC-SHA256 of body under secret, as forges send it.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signed returns the headers kind sends for event with body, signed (or,
// for GitLab, tokened) with secret.
func signed(kind Kind, event, secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	switch kind {
	case GitHub:
		h.Set("X-GitHub-Event", event)
		h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case GitLab:
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
		h.Set("X-Gitlab-Webhook-UUID", "3c5c0404-c866-44bc-a5f6-452bb1bfc76e")
		h.Set("X-Gitlab-Token", secret)
	case Gitea:
		h.Set("X-Gitea-Event", event)
		h.Set("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473")
		h.Set("X-Gitea-Signature", hmacHex(secret, body))
	case Bitbucket:
		h.Set("X-Event-Key", event)
		h.Set("X-Request-UUID", "afe4a4b1-4a8c-4e6f-8f53-0f8a3b1e2c9d")
		h.Set("X-Hook-UUID", "{7b9a2f1e-2d3c-4b5a-9e8f-1a2b3c4d5e6f}")
		h.Set("X-Hub-Signature", "sha256="+hmacHex(secret, body))
	}
	return h
}

// editJSON decodes body, lets edit change it, and encodes it again.
func editJSON(t *testing.T, body []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode fixture: %v", err)
	}
	return out
}

// obj walks m along keys, which must all be objects.
func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// replace replaces old by new in body, failing if old is absent.
func replace(t *testing.T, body []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(body, []byte(old)) {
		t.Fatalf("fixture has no %q", old)
	}
	return bytes.ReplaceAll(body, []byte(old), []byte(new))
}

// parseCase is one delivery and what Parse must make of it.
type parseCase struct {
	name   string
	event  string                              // the event header's value
	file   string                              // fixture under testdata/
	body   func(t *testing.T, b []byte) []byte // optional edit of the fixture
	header func(h http.Header)                 // optional edit of the signed headers
	want   Event                               // compared without BodySHA256
	skip   bool                                // want SkipDeploy
	err    error                               // sentinel the error must wrap
	msg    string                              // substring of the error message
}

func runParseCases(t *testing.T, kind Kind, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := fixture(t, tc.file)
			if tc.body != nil {
				body = tc.body(t, body)
			}
			h := signed(kind, tc.event, testSecret, body)
			if tc.header != nil {
				tc.header(h)
			}
			got, err := Parse(kind, testSecret, h, body)
			checkErr(t, err, tc.err, tc.msg)
			if tc.err != nil {
				if !reflect.DeepEqual(got, Event{}) {
					t.Errorf("Parse returned %+v with an error, want a zero Event", got)
				}
				return
			}
			if got.BodySHA256 == "" {
				t.Error("BodySHA256 is empty")
			}
			got.BodySHA256 = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
			if got.SkipDeploy() != tc.skip {
				t.Errorf("SkipDeploy() = %v, want %v", got.SkipDeploy(), tc.skip)
			}
			if s := got.Summary(); s == "" || strings.ContainsAny(s, "\n\r") {
				t.Errorf("Summary() = %q, want one non-empty line", s)
			}
		})
	}
}

func checkErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	case msg != "" && (err == nil || !strings.Contains(err.Error(), msg)):
		t.Fatalf("error = %v, want it to mention %q", err, msg)
	}
}

func dump(e Event) string {
	b, _ := json.MarshalIndent(e, "", "  ")
	return string(b)
}
