package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/seedbed/seedbed/targets"
)

// QueuePrefix is the path, under a stage, where functions (and external
// senders holding the stage's send token) send messages to the stage's
// queues: POST /APP/STAGE/_seedbed/queues/NAME with the message as the
// body and "Authorization: Bearer TOKEN". It shadows a function route of
// the same path. An instance's own API listener (SEEDBED_API_URL) serves
// the same path without the /APP/STAGE part.
const QueuePrefix = "/_seedbed/queues/"

// QueueTokenEnv is the environment variable that gives a stage's functions
// the send token of their stage's queues.
const QueueTokenEnv = "SEEDBED_QUEUE_TOKEN"

// QueueSender puts messages on a stage's queues (the events package).
type QueueSender interface {
	// Send queues body on queue of stage and returns the message's id.
	// Errors with an HTTPStatus() int method are refusals, as for Async.
	Send(ctx context.Context, stage targets.StageRef, queue string, body []byte) (string, error)
}

// QueueTokens makes and checks the per-stage credentials of queue sends
// (events.SendTokens).
type QueueTokens interface {
	// QueueToken is the token that lets its bearer send to ref's queues.
	QueueToken(ref targets.StageRef) string
	// VerifyQueueToken tells whether token is ref's, in constant time.
	VerifyQueueToken(ref targets.StageRef, token string) bool
}

// QueueEndpoint serves queue sends: the gateway's
// /APP/STAGE/_seedbed/queues/NAME, and each function instance's own API
// listener, which is bound to one stage. A send needs the stage's token;
// nothing about the queue (not even whether it exists) is said before
// the token checks.
type QueueEndpoint struct {
	Sender QueueSender    // nil answers 501
	Tokens QueueTokens    // nil refuses every send
	SQS    SQSCredentials // for the SQS-compatible subset (sqs.go); nil answers it 501
}

// bearerToken is the token of an "Authorization: Bearer TOKEN" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authorized tells whether r carries ref's send token, and answers 401
// when it does not.
func (q QueueEndpoint) authorized(w http.ResponseWriter, r *http.Request, ref targets.StageRef) bool {
	token, ok := bearerToken(r)
	if ok && q.Tokens != nil && q.Tokens.VerifyQueueToken(ref, token) {
		return true
	}
	why := "sending to a queue needs the stage's send token"
	if ok {
		why = "this token does not send to the queues of " + ref.String()
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="seedbed-queues"`)
	PlainError(w, http.StatusUnauthorized, why+": send it as \"Authorization: Bearer TOKEN\". "+
		"The stage's functions have it in $"+QueueTokenEnv+"; deployers of the app get it with "+
		"`seedbed queues token "+ref.App+" "+ref.Stage+"`.")
	return false
}

// ServeSend answers a send of the request's body to queue of ref: 202
// {"messageId": …}, 401 without ref's token.
func (q QueueEndpoint) ServeSend(w http.ResponseWriter, r *http.Request, ref targets.StageRef, queue string) {
	if q.Sender == nil {
		PlainError(w, http.StatusNotImplemented, "queues are not available on this gateway")
		return
	}
	if !q.authorized(w, r, ref) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		PlainError(w, http.StatusMethodNotAllowed, "send a message with POST; the body is the message")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, asyncBodyLimit))
	if err != nil {
		PlainError(w, http.StatusRequestEntityTooLarge, "the message is too large")
		return
	}
	id, err := q.Sender.Send(r.Context(), ref, queue, body)
	if err != nil {
		queueError(w, err, "the message")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"messageId": id})
}

func (g *Gateway) queueEndpoint() QueueEndpoint {
	return QueueEndpoint{Sender: g.cfg.Queues, Tokens: g.cfg.QueueTokens, SQS: g.cfg.SQS}
}

func (g *Gateway) serveQueueSend(w http.ResponseWriter, r *http.Request, ref targets.StageRef, queue string) {
	g.queueEndpoint().ServeSend(w, r, ref, queue)
}
