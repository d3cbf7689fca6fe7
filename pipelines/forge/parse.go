package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxBody is the largest webhook body Seedbed accepts, in bytes. The HTTP
// layer must not read more than this from a request (http.MaxBytesReader,
// or io.LimitReader with MaxBody+1 so that Parse sees the excess); Parse
// refuses anything longer with ErrTooLarge. Push and pull request payloads
// stay well below it: GitLab lists at most 20 commits, Bitbucket caps
// payloads at 256 KB; only a GitHub push of thousands of commits (it lists
// up to 2048) could pass it.
const MaxBody = 5 << 20

// Parse verifies one webhook delivery and normalizes it into an Event.
//
// kind is the forge named in the webhook URL, secret the app's webhook
// secret, header the request headers and body the raw request body, exactly
// as received: the signature covers these bytes. Checks run in this order,
// and the first failure is returned with a zero Event:
//
//  1. body no longer than MaxBody, else ErrTooLarge;
//  2. a secret is configured, else ErrSignature;
//  3. signature (GitHub, Gitea/Forgejo, Bitbucket: HMAC-SHA256 of the body)
//     or token (GitLab) present and equal in constant time, else ErrSignature;
//  4. an event type Seedbed acts on, else ErrUnsupported;
//  5. a payload with the fields Seedbed needs, else ErrMalformed; a valid
//     payload whose action is not acted on (a label change) is ErrUnsupported.
//
// An unknown kind gives an error wrapping ErrUnknownKind. A Bitbucket push
// can carry several refs; Parse returns the first, ParseAll returns all.
func Parse(kind Kind, secret string, header http.Header, body []byte) (Event, error) {
	events, err := ParseAll(kind, secret, header, body)
	if err != nil {
		return Event{}, err
	}
	return events[0], nil
}

// ParseAll is Parse for deliveries that report several refs at once, which
// Bitbucket does for a push of more than one branch or tag (git push
// --follow-tags). It returns one Event per ref, in the forge's order, all
// with the same DeliveryID; for the other forges, exactly one. On error it
// returns no events.
func ParseAll(kind Kind, secret string, header http.Header, body []byte) ([]Event, error) {
	if !kind.valid() {
		_, err := ParseKind(string(kind))
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, &deliveryError{sentinel: ErrTooLarge, msg: fmt.Sprintf(
			"the %s webhook body is larger than the %d bytes Seedbed accepts: if it was a push of "+
				"many commits, start the build from the console instead", kind.DisplayName(), MaxBody)}
	}
	if secret == "" {
		return nil, signatureErrorf("this app has no webhook secret, so no %s delivery can be verified: "+
			"generate one in the app's settings and enter it in the %s webhook", kind.DisplayName(), kind.DisplayName())
	}
	if err := verify(kind, secret, header, body); err != nil {
		return nil, err
	}
	var (
		events []Event
		err    error
	)
	switch kind {
	case GitHub:
		events, err = parseGitHub(header, body)
	case GitLab:
		events, err = parseGitLab(header, body)
	case Gitea:
		events, err = parseGitea(header, body)
	case Bitbucket:
		events, err = parseBitbucket(header, body)
	}
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if err := checkEvent(kind, e); err != nil {
			return nil, err
		}
	}
	id := DeliveryID(kind, header)
	sum := sha256.Sum256(body)
	for i := range events {
		events[i].Forge = kind
		events[i].DeliveryID = id
		events[i].BodySHA256 = hex.EncodeToString(sum[:])
	}
	return events, nil
}

// DeliveryID returns the forge's id for a delivery from its headers, or ""
// when there is none. The HTTP layer can use it to record a delivery that
// Parse rejected; such an id is unverified (no forge signs its headers).
//
// Headers read: GitHub X-GitHub-Delivery; GitLab X-Gitlab-Event-UUID, else
// Idempotency-Key; Gitea X-Gitea-Delivery, X-Forgejo-Delivery or
// X-Gogs-Delivery; Bitbucket X-Request-UUID. GitLab's X-Gitlab-Webhook-UUID
// and Bitbucket's X-Hook-UUID are not used: they name the webhook, so every
// delivery of a hook carries the same value and would look like a replay.
func DeliveryID(kind Kind, header http.Header) string {
	switch kind {
	case GitHub:
		return first(header, "X-GitHub-Delivery")
	case GitLab:
		return first(header, "X-Gitlab-Event-UUID", "Idempotency-Key")
	case Gitea:
		return first(header, "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery")
	case Bitbucket:
		return first(header, "X-Request-UUID")
	}
	return ""
}

// first returns the first non-empty value among the named headers.
func first(header http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(header.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// firstName is like first but also says which header had the value.
func firstName(header http.Header, names ...string) (name, value string) {
	for _, n := range names {
		if v := strings.TrimSpace(header.Get(n)); v != "" {
			return n, v
		}
	}
	return names[0], ""
}

func verify(kind Kind, secret string, header http.Header, body []byte) error {
	switch kind {
	case GitHub:
		name, v := firstName(header, "X-Hub-Signature-256")
		return verifyHMAC(kind, "Secret", secret, body, name, v, "sha256=")
	case Gitea:
		name, v := firstName(header, "X-Gitea-Signature", "X-Forgejo-Signature")
		return verifyHMAC(kind, "Secret", secret, body, name, v, "")
	case Bitbucket:
		name, v := firstName(header, "X-Hub-Signature")
		return verifyHMAC(kind, "Secret", secret, body, name, v, "sha256=")
	case GitLab:
		got := header.Get("X-Gitlab-Token")
		if got == "" {
			return signatureErrorf("X-Gitlab-Token header is missing: enter the webhook secret Seedbed shows " +
				"for this app in the Secret token field of the GitLab webhook")
		}
		// Hashing first makes the comparison constant-time in the
		// length too, which subtle.ConstantTimeCompare alone is not.
		g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
			return signatureErrorf("X-Gitlab-Token does not match: check that the Secret token of the " +
				"GitLab webhook equals the webhook secret Seedbed shows for this app")
		}
		return nil
	}
	return nil
}

// verifyHMAC checks that value is prefix followed by the hex HMAC-SHA256 of
// body keyed with secret. field is what the forge's settings page calls the
// secret, for the message.
func verifyHMAC(kind Kind, field, secret string, body []byte, name, value, prefix string) error {
	forge := kind.DisplayName()
	if value == "" {
		return signatureErrorf("%s header is missing: enter the webhook secret Seedbed shows for this app "+
			"in the %s field of the %s webhook", name, field, forge)
	}
	digest, ok := strings.CutPrefix(value, prefix)
	got, err := hex.DecodeString(digest)
	if !ok || err != nil || len(got) != sha256.Size {
		return signatureErrorf("%s is not %s%d hex digits: the request did not come from a %s webhook "+
			"with a secret", name, prefix, 2*sha256.Size, forge)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return signatureErrorf("%s does not match the body: check that the webhook secret in %s equals "+
			"the one Seedbed shows for this app", name, forge)
	}
	return nil
}

// jsonBody returns the JSON document of a delivery. GitHub and Gitea can
// also send it form-encoded, as the "payload" field.
func jsonBody(kind Kind, header http.Header, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return nil, malformedf("the %s delivery is form-encoded but has no payload field: "+
			"set the webhook's content type to application/json", kind.DisplayName())
	}
	return []byte(form.Get("payload")), nil
}

// decode unmarshals a payload, turning a failure into ErrMalformed.
func decode(kind Kind, event string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return malformedf("the %s %q payload is not the JSON %s sends (%v): "+
			"check that the webhook's content type is application/json", kind.DisplayName(), event, kind.DisplayName(), err)
	}
	return nil
}

func missing(kind Kind, event, field string) error {
	return malformedf("the %s %q payload has no %s: it is not a delivery from a %s webhook",
		kind.DisplayName(), event, field, kind.DisplayName())
}

// noSHA turns a forge's "no commit" (all zeros) into "".
func noSHA(sha string) string {
	if strings.Trim(sha, "0") == "" {
		return ""
	}
	return sha
}

// setRef fills Type, Ref, Branch and Tag from a full ref. It reports false
// for refs that are neither branches nor tags (notes, pull request refs).
func (e *Event) setRef(ref string) bool {
	e.Ref = ref
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok && b != "" {
		e.Type, e.Branch = Push, b
		return true
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && t != "" {
		e.Type, e.Tag = TagPush, t
		return true
	}
	return false
}

func unsupportedRef(kind Kind, ref string) error {
	return unsupportedf("the %s push updated %s, which is neither a branch nor a tag: ignored", kind.DisplayName(), ref)
}
