package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/seedbed/seedbed/targets"
)

// An SQS-compatible subset of the send API, so that code written for SQS
// with an AWS SDK sends to a stage's queues unchanged: the AWS JSON 1.0
// protocol (X-Amz-Target: AmazonSQS.ACTION, Content-Type
// application/x-amz-json-1.0), authenticated with AWS Signature Version 4
// under per-stage credentials. Offered: SendMessage, SendMessageBatch and
// GetQueueUrl. Not offered (400 UnsupportedOperation): ReceiveMessage,
// DeleteMessage and the rest: a stage's queues are consumed by its
// subscribed function, not polled. The query protocol (form-encoded
// Action=SendMessage, used by SDKs older than late 2023) is not offered
// either.
//
// It is served on each instance's own API (SEEDBED_API_URL, POST /) and on
// the gateway at /APP/STAGE/_seedbed/sqs.

// SQSPath is the path, under a stage, of the SQS-compatible endpoint on
// the gateway: an SDK's endpoint is https://GATEWAY/APP/STAGE/_seedbed/sqs.
const SQSPath = "/_seedbed/sqs"

// SQSCredentials makes and checks the per-stage SigV4 credentials of the
// SQS-compatible endpoint (events.SendTokens).
type SQSCredentials interface {
	// SQSCredentials are ref's access key id and secret under the
	// current key.
	SQSCredentials(ref targets.StageRef) (accessKeyID, secret string)
	// SQSSecrets are the secrets that go with accessKeyID if it is one of
	// ref's (one per key of the ring during a rotation); none if not.
	SQSSecrets(ref targets.StageRef, accessKeyID string) []string
}

// sqsMaxBody bounds a request: 10 messages of 256 KB, as JSON.
const sqsMaxBody = 4 << 20

// sqsClockSkew is how far a request's signing time may be from now, as AWS
// allows.
const sqsClockSkew = 15 * time.Minute

// sqsError answers an error the way the AWS JSON protocol does, which the
// SDKs turn into typed errors (the code also in x-amzn-query-error, as SQS
// sends it).
func sqsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Sender")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
}

// sqsAuthError is why a request's signature was refused.
type sqsAuthError struct{ code, msg string }

func (e *sqsAuthError) Error() string { return e.msg }

// verifySigV4 checks the request's AWS Signature Version 4 against ref's
// credentials by signing a copy of it (with the headers the client
// signed) and comparing the signatures in constant time.
func verifySigV4(r *http.Request, body []byte, ref targets.StageRef, creds SQSCredentials, now time.Time) error {
	const algorithm = "AWS4-HMAC-SHA256"
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return &sqsAuthError{"MissingAuthenticationToken", "the request must be signed with AWS Signature Version 4 (" + algorithm + ") under the stage's SQS credentials"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return &sqsAuthError{"IncompleteSignature", "the Authorization header lacks Credential, SignedHeaders or Signature"}
	}
	keyID, date, region, service := scope[0], scope[1], scope[2], scope[3]
	if service != "sqs" {
		return &sqsAuthError{"SignatureDoesNotMatch", "the credential scope names service " + service + ", not sqs"}
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || signedAt.Format("20060102") != date {
		return &sqsAuthError{"IncompleteSignature", "X-Amz-Date is missing or does not match the credential scope's date"}
	}
	if d := now.Sub(signedAt); d > sqsClockSkew || d < -sqsClockSkew {
		return &sqsAuthError{"SignatureDoesNotMatch", "the request was signed at " + signedAt.Format(time.RFC3339) + ", more than 15 minutes from now (check the clock)"}
	}
	secrets := creds.SQSSecrets(ref, keyID)
	if len(secrets) == 0 {
		return &sqsAuthError{"InvalidClientTokenId", "the access key id is not one of " + ref.String() + "'s SQS credentials"}
	}
	// A copy holding only what the client signed: the signer signs every
	// header it is given.
	signed := strings.Split(fields["SignedHeaders"], ";")
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return &sqsAuthError{"SignatureDoesNotMatch", "cannot read the request's URL"}
	}
	cp.Host = r.Host
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				cp.Header[textproto.CanonicalMIMEHeaderKey(h)] = vs
			}
		}
	}
	sum := sha256.Sum256(body)
	match := false
	for _, secret := range secrets {
		c := cp.Clone(context.Background())
		c.Header.Del("X-Amz-Date") // the signer sets it from signedAt
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
			c, hex.EncodeToString(sum[:]), service, region, signedAt)
		if err != nil {
			continue
		}
		mine := map[string]string{}
		for _, part := range strings.Split(strings.TrimPrefix(c.Header.Get("Authorization"), algorithm+" "), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			mine[k] = v
		}
		// Every secret is tried, so the time taken does not say which matched.
		if hmac.Equal([]byte(mine["Signature"]), []byte(fields["Signature"])) && mine["SignedHeaders"] == fields["SignedHeaders"] {
			match = true
		}
	}
	if !match {
		return &sqsAuthError{"SignatureDoesNotMatch", "the request signature does not match the one computed with " + ref.String() + "'s SQS credentials: sign with SEEDBED_SQS_ACCESS_KEY_ID and SEEDBED_SQS_SECRET_ACCESS_KEY of this stage"}
	}
	return nil
}

// sqsSendEntry is what SendMessage and each SendMessageBatch entry carry;
// the fields Seedbed does not honour are refused, not dropped.
type sqsSendEntry struct {
	ID                      string          `json:"Id"`
	MessageBody             *string         `json:"MessageBody"`
	DelaySeconds            int             `json:"DelaySeconds"`
	MessageAttributes       json.RawMessage `json:"MessageAttributes"`
	MessageSystemAttributes json.RawMessage `json:"MessageSystemAttributes"`
	MessageGroupID          string          `json:"MessageGroupId"`
	MessageDeduplicationID  string          `json:"MessageDeduplicationId"`
}

// unsupported names a field the entry sets that Seedbed's queues have no
// place for; "" when there is none.
func (e sqsSendEntry) unsupported() string {
	switch {
	case e.DelaySeconds != 0:
		return "DelaySeconds (Seedbed's queues deliver at once)"
	case len(e.MessageAttributes) > 0 && string(e.MessageAttributes) != "null" && string(e.MessageAttributes) != "{}":
		return "MessageAttributes (a message is its body only)"
	case len(e.MessageSystemAttributes) > 0 && string(e.MessageSystemAttributes) != "null" && string(e.MessageSystemAttributes) != "{}":
		return "MessageSystemAttributes"
	case e.MessageGroupID != "" || e.MessageDeduplicationID != "":
		return "MessageGroupId and MessageDeduplicationId (no FIFO queues)"
	}
	return ""
}

// queueName is the queue a QueueUrl names: its last path segment, so that
// $SEEDBED_API_URL/_seedbed/queues/orders, https://GATEWAY/APP/STAGE/_seedbed/queues/orders
// and an AWS-style URL ending in /orders all name orders (of the stage
// the endpoint serves, whatever else the URL says).
func queueName(queueURL string) (string, bool) {
	u, err := url.Parse(queueURL)
	if err != nil || queueURL == "" {
		return "", false
	}
	name := path.Base(strings.TrimRight(u.Path, "/"))
	if name == "" || name == "." || name == "/" {
		return "", false
	}
	return name, true
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ServeSQS answers one SQS request for ref's queues. base is the URL the
// endpoint is reached at (for GetQueueUrl).
func (q QueueEndpoint) ServeSQS(w http.ResponseWriter, r *http.Request, ref targets.StageRef, base string) {
	if q.Sender == nil || q.SQS == nil {
		sqsError(w, http.StatusNotImplemented, "UnsupportedOperation", "queues are not available here")
		return
	}
	if r.Method != http.MethodPost {
		sqsError(w, http.StatusMethodNotAllowed, "UnsupportedOperation", "SQS requests are POSTs in the AWS JSON 1.0 protocol")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sqsMaxBody))
	if err != nil {
		sqsError(w, http.StatusRequestEntityTooLarge, "InvalidParameterValue", "the request is too large")
		return
	}
	if err := verifySigV4(r, body, ref, q.SQS, time.Now()); err != nil {
		var ae *sqsAuthError
		errors.As(err, &ae)
		sqsError(w, http.StatusForbidden, ae.code, ae.msg)
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if !ok {
		sqsError(w, http.StatusBadRequest, "UnsupportedOperation", "Seedbed speaks SQS's AWS JSON 1.0 protocol only (X-Amz-Target: AmazonSQS.SendMessage); the query protocol (Action=…) is not offered: use an SDK from after November 2023")
		return
	}
	ctx := r.Context()
	switch action {
	case "GetQueueUrl":
		var in struct{ QueueName string }
		if json.Unmarshal(body, &in) != nil || in.QueueName == "" || strings.Contains(in.QueueName, "/") {
			sqsError(w, http.StatusBadRequest, "InvalidParameterValue", "GetQueueUrl needs a QueueName")
			return
		}
		sqsJSON(w, map[string]string{"QueueUrl": base + QueuePrefix + url.PathEscape(in.QueueName)})
	case "SendMessage":
		var in struct {
			QueueURL string `json:"QueueUrl"`
			sqsSendEntry
		}
		if err := json.Unmarshal(body, &in); err != nil || in.MessageBody == nil {
			sqsError(w, http.StatusBadRequest, "MissingParameter", "SendMessage needs QueueUrl and MessageBody")
			return
		}
		name, ok := queueName(in.QueueURL)
		if !ok {
			sqsError(w, http.StatusBadRequest, "InvalidAddress", "QueueUrl must end with the queue's name, e.g. "+base+QueuePrefix+"orders")
			return
		}
		if what := in.unsupported(); what != "" {
			sqsError(w, http.StatusBadRequest, "UnsupportedOperation", "Seedbed does not offer "+what)
			return
		}
		id, err := q.Sender.Send(ctx, ref, name, []byte(*in.MessageBody))
		if err != nil {
			code, status, msg := sqsSendError(err)
			sqsError(w, status, code, msg)
			return
		}
		sqsJSON(w, map[string]string{"MessageId": id, "MD5OfMessageBody": md5Hex(*in.MessageBody)})
	case "SendMessageBatch":
		var in struct {
			QueueURL string         `json:"QueueUrl"`
			Entries  []sqsSendEntry `json:"Entries"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			sqsError(w, http.StatusBadRequest, "MissingParameter", "SendMessageBatch needs QueueUrl and Entries")
			return
		}
		name, ok := queueName(in.QueueURL)
		if !ok {
			sqsError(w, http.StatusBadRequest, "InvalidAddress", "QueueUrl must end with the queue's name, e.g. "+base+QueuePrefix+"orders")
			return
		}
		switch {
		case len(in.Entries) == 0:
			sqsError(w, http.StatusBadRequest, "EmptyBatchRequest", "the batch has no entries")
			return
		case len(in.Entries) > 10:
			sqsError(w, http.StatusBadRequest, "TooManyEntriesInBatchRequest", fmt.Sprintf("a batch holds at most 10 entries, not %d", len(in.Entries)))
			return
		}
		seen := map[string]bool{}
		for _, e := range in.Entries {
			if e.ID == "" || seen[e.ID] {
				sqsError(w, http.StatusBadRequest, "BatchEntryIdsNotDistinct", "every entry needs an Id of its own")
				return
			}
			seen[e.ID] = true
		}
		type sent struct {
			ID               string `json:"Id"`
			MessageID        string `json:"MessageId"`
			MD5OfMessageBody string `json:"MD5OfMessageBody"`
		}
		type failed struct {
			ID          string `json:"Id"`
			SenderFault bool   `json:"SenderFault"`
			Code        string `json:"Code"`
			Message     string `json:"Message"`
		}
		out := struct {
			Successful []sent   `json:"Successful"`
			Failed     []failed `json:"Failed"`
		}{Successful: []sent{}, Failed: []failed{}}
		for _, e := range in.Entries {
			if e.MessageBody == nil {
				out.Failed = append(out.Failed, failed{e.ID, true, "MissingParameter", "the entry has no MessageBody"})
				continue
			}
			if what := e.unsupported(); what != "" {
				out.Failed = append(out.Failed, failed{e.ID, true, "UnsupportedOperation", "Seedbed does not offer " + what})
				continue
			}
			id, err := q.Sender.Send(ctx, ref, name, []byte(*e.MessageBody))
			if err != nil {
				code, status, msg := sqsSendError(err)
				out.Failed = append(out.Failed, failed{e.ID, status < 500, code, msg})
				continue
			}
			out.Successful = append(out.Successful, sent{e.ID, id, md5Hex(*e.MessageBody)})
		}
		sqsJSON(w, out)
	default:
		sqsError(w, http.StatusBadRequest, "UnsupportedOperation", "Seedbed offers SendMessage, SendMessageBatch and GetQueueUrl of SQS, not "+action+
			": a stage's queues are consumed by the function subscribed to them")
	}
}

// sqsSendError maps a refusal of the events package to SQS's codes.
func sqsSendError(err error) (code string, status int, msg string) {
	var refusal interface{ HTTPStatus() int }
	if !errors.As(err, &refusal) {
		return "ServiceUnavailable", http.StatusServiceUnavailable, "cannot queue the message now: " + err.Error()
	}
	switch refusal.HTTPStatus() {
	case http.StatusNotFound:
		return "QueueDoesNotExist", http.StatusBadRequest, err.Error()
	case http.StatusTooManyRequests:
		return "RequestThrottled", http.StatusTooManyRequests, err.Error()
	}
	return "InvalidParameterValue", http.StatusBadRequest, err.Error()
}

func sqsJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) serveSQS(w http.ResponseWriter, r *http.Request, ref targets.StageRef, prefix string) {
	f := g.forwardingOf(r, prefix)
	g.queueEndpoint().ServeSQS(w, r, ref, f.Proto+"://"+f.Host+prefix)
}
