package forge

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// forgeCase names, per forge, a genuine push, an event Seedbed ignores and
// the headers that carry the event and the signature.
type forgeCase struct {
	kind       Kind
	pushFile   string
	pushEvent  string
	otherEvent string // genuine but not acted on
	eventHdr   string
	sigHdr     string
}

var forgeCases = []forgeCase{
	{GitHub, "github/push-new-branch.json", "push", "issues", "X-GitHub-Event", "X-Hub-Signature-256"},
	{GitLab, "gitlab/push.json", "Push Hook", "Issue Hook", "X-Gitlab-Event", "X-Gitlab-Token"},
	{Gitea, "gitea/push.json", "push", "issues", "X-Gitea-Event", "X-Gitea-Signature"},
	{Bitbucket, "bitbucket/repo-push.json", "repo:push", "issue:created", "X-Event-Key", "X-Hub-Signature"},
}

// TestParseRejects runs, for every forge, the deliveries that must not
// become events: forged, unsigned, unverifiable, malformed, unknown,
// oversized.
func TestParseRejects(t *testing.T) {
	for _, fc := range forgeCases {
		t.Run(string(fc.kind), func(t *testing.T) {
			good := fixture(t, fc.pushFile)
			cases := []struct {
				name   string
				secret string // configured on Seedbed's side
				body   []byte
				header http.Header
				err    error
				msg    string
			}{
				{
					name: "wrong signature", secret: testSecret, body: good,
					header: signed(fc.kind, fc.pushEvent, "not the secret", good),
					err:    ErrSignature, msg: fc.sigHdr,
				},
				{
					name: "body changed after signing", secret: testSecret,
					body:   append([]byte(" "), good...),
					header: signed(fc.kind, fc.pushEvent, testSecret, good),
					err:    ErrSignature, msg: fc.sigHdr,
				},
				{
					name: "missing signature", secret: testSecret, body: good,
					header: func() http.Header {
						h := signed(fc.kind, fc.pushEvent, testSecret, good)
						h.Del(fc.sigHdr)
						return h
					}(),
					err: ErrSignature, msg: fc.sigHdr + " header is missing",
				},
				{
					name: "no secret configured", secret: "", body: good,
					header: signed(fc.kind, fc.pushEvent, "", good),
					err:    ErrSignature, msg: "no webhook secret",
				},
				{
					name: "unknown event with a wrong signature", secret: testSecret, body: good,
					header: signed(fc.kind, fc.otherEvent, "not the secret", good),
					err:    ErrSignature,
				},
				{
					name: "malformed JSON", secret: testSecret, body: []byte(`{"ref": "refs/heads/main", `),
					header: signed(fc.kind, fc.pushEvent, testSecret, []byte(`{"ref": "refs/heads/main", `)),
					err:    ErrMalformed, msg: "JSON",
				},
				{
					name: "JSON without the push fields", secret: testSecret, body: []byte(`{}`),
					header: signed(fc.kind, fc.pushEvent, testSecret, []byte(`{}`)),
					err:    ErrMalformed,
				},
				{
					name: "missing event header", secret: testSecret, body: good,
					header: func() http.Header {
						h := signed(fc.kind, fc.pushEvent, testSecret, good)
						h.Del(fc.eventHdr)
						return h
					}(),
					err: ErrMalformed, msg: fc.eventHdr,
				},
				{
					name: "unknown event type", secret: testSecret, body: good,
					header: signed(fc.kind, fc.otherEvent, testSecret, good),
					err:    ErrUnsupported, msg: fc.otherEvent,
				},
				{
					name: "oversized body", secret: testSecret, body: bytes.Repeat([]byte(" "), MaxBody+1),
					header: signed(fc.kind, fc.pushEvent, testSecret, bytes.Repeat([]byte(" "), MaxBody+1)),
					err:    ErrTooLarge,
				},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if fc.kind == GitLab && tc.name == "body changed after signing" {
						t.Skip("GitLab sends a shared token, not a signature of the body; TLS protects it in transit")
					}
					got, err := Parse(fc.kind, tc.secret, tc.header, tc.body)
					checkErr(t, err, tc.err, tc.msg)
					if got.Type != "" || got.PR != nil {
						t.Errorf("Parse returned %+v with an error, want a zero Event", got)
					}
					for _, sentinel := range []error{ErrSignature, ErrMalformed, ErrUnsupported, ErrTooLarge} {
						if sentinel != tc.err && errors.Is(err, sentinel) {
							t.Errorf("error also wraps %v", sentinel)
						}
					}
					// The message is for the user: no sentinel prefix.
					if strings.HasPrefix(err.Error(), tc.err.Error()) {
						t.Errorf("error %q starts with the sentinel's text", err)
					}
					if strings.Contains(err.Error(), testSecret) {
						t.Errorf("error %q contains the secret", err)
					}
				})
			}
		})
	}
}

func TestParseMalformedSignature(t *testing.T) {
	body := fixture(t, "github/push-new-branch.json")
	for _, tc := range []struct {
		name, kind, header, value string
	}{
		{"GitHub SHA-1 signature", "github", "X-Hub-Signature-256", "sha1=" + strings.Repeat("a", 40)},
		{"GitHub hex without prefix", "github", "X-Hub-Signature-256", hmacHex(testSecret, body)},
		{"GitHub prefix without hex", "github", "X-Hub-Signature-256", "sha256=not-hex"},
		{"GitHub truncated digest", "github", "X-Hub-Signature-256", "sha256=" + hmacHex(testSecret, body)[:62]},
		{"Gitea with a sha256= prefix", "gitea", "X-Gitea-Signature", "sha256=" + hmacHex(testSecret, body)},
		{"Bitbucket without prefix", "bitbucket", "X-Hub-Signature", hmacHex(testSecret, body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, err := ParseKind(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			h := signed(kind, "push", testSecret, body)
			h.Set(tc.header, tc.value)
			_, err = Parse(kind, testSecret, h, body)
			checkErr(t, err, ErrSignature, tc.header)
		})
	}
}

func TestParseGitLabTokenIsCompared(t *testing.T) {
	body := fixture(t, "gitlab/push.json")
	for _, tc := range []struct {
		name, token string
		err         error
	}{
		{"equal", testSecret, nil},
		{"prefix of the secret", testSecret[:5], ErrSignature},
		{"secret with a suffix", testSecret + "x", ErrSignature},
		{"different case", strings.ToUpper(testSecret), ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := signed(GitLab, "Push Hook", testSecret, body)
			h.Set("X-Gitlab-Token", tc.token)
			_, err := Parse(GitLab, testSecret, h, body)
			checkErr(t, err, tc.err, "")
		})
	}
}

func TestParseUnknownKind(t *testing.T) {
	body := fixture(t, "github/push-new-branch.json")
	_, err := Parse("sourcehut", testSecret, signed(GitHub, "push", testSecret, body), body)
	checkErr(t, err, ErrUnknownKind, `"sourcehut"`)
}

func TestBodySHA256(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	e, err := Parse(GitHub, testSecret, signed(GitHub, "ping", testSecret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	const want = "5fa0bd3314882bbbc01e85b65e04d656ba701bc4d843d7840ffc8115f32592f1" // printf '%s' BODY | sha256sum
	if e.BodySHA256 != want {
		t.Errorf("BodySHA256 = %s, want %s", e.BodySHA256, want)
	}
}
