package local

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
)

// A function calls Seedbed (to send to its stage's queues) on a listener of
// its own instance, not on the gateway: a sandboxed function reaches
// nothing on the host's loopback but the ports forwarded into its sandbox
// (sandbox.Spec.Reach), and the gateway may listen anywhere. A
// Lambda-style instance has such a port already, its Runtime API, which
// serves these endpoints too; an HTTP function's instance gets a small
// listener of its own. Either way the process finds it in
// SEEDBED_API_URL (http://127.0.0.1:PORT):
//
//	POST $SEEDBED_API_URL/_seedbed/queues/NAME   the body is the message
//
// with "Authorization: Bearer $SEEDBED_QUEUE_TOKEN", as on the gateway.
// The listener is bound to the instance's stage: it sends to that stage's
// queues only, and still asks for the token, since other processes on the
// host (an unsandboxed function, isolation none) can reach its port.

// APIURLEnv is the environment variable that tells a function where its
// instance's Seedbed API listens.
const APIURLEnv = "SEEDBED_API_URL"

// seedbedRoutes adds the endpoints a function of ref may call to mux; it
// adds none when the target sends to no queues.
func (t *Target) seedbedRoutes(ref targets.StageRef) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		if t.cfg.QueueSender == nil {
			return
		}
		ep := gateway.QueueEndpoint{Sender: t.cfg.QueueSender, Tokens: t.cfg.QueueTokens, SQS: t.cfg.SQS}
		mux.HandleFunc(strings.TrimSuffix(gateway.QueuePrefix, "/")+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			ep.ServeSend(w, r, ref, r.PathValue("name"))
		})
		// The SQS-compatible subset (gateway/sqs.go), where an AWS SDK
		// whose endpoint is SEEDBED_API_URL posts.
		mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
			ep.ServeSQS(w, r, ref, "http://"+r.Host)
		})
	}
}

// instanceAPI is the listener of an HTTP function's instance.
type instanceAPI struct {
	addr string // host:port
	srv  *http.Server
}

// newInstanceAPI serves routes on a free loopback port.
func newInstanceAPI(log *slog.Logger, routes func(*http.ServeMux)) (*instanceAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the instance's Seedbed API: %w", err)
	}
	mux := http.NewServeMux()
	routes(mux)
	a := &instanceAPI{addr: ln.Addr().String(), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() { _ = a.srv.Serve(quickAckListener{ln}) }()
	return a, nil
}

// close stops serving; nil is fine.
func (a *instanceAPI) close() {
	if a != nil {
		_ = a.srv.Close()
	}
}

// The SQS credentials of the instance's stage, under names of Seedbed's
// own: AWS_ACCESS_KEY_ID may hold real AWS credentials the function needs.
const (
	SQSAccessKeyIDEnv = "SEEDBED_SQS_ACCESS_KEY_ID"
	SQSSecretEnv      = "SEEDBED_SQS_SECRET_ACCESS_KEY"
	SQSEndpointEnv    = "SEEDBED_SQS_ENDPOINT"
)

// ownAWSConfig lists the variables by which a function's env shows it
// talks to real AWS (or another endpoint of its choosing): with any of
// them set, Seedbed leaves the SDK's own variables alone.
var ownAWSConfig = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
}

// sqsEnv adds the SQS credentials of the instance's stage to vars (the
// function's env so far). SEEDBED_SQS_* are always set. The AWS SDKs' own
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL_SQS are set
// too, so that unchanged SQS code sends to the stage's queues, but only when
// the function's own env has no AWS configuration at all: a function
// given real AWS credentials keeps them, and its SQS calls go to AWS.
// Without any, its AWS calls could not have worked before (Seedbed offers
// no instance role), so nothing that worked breaks.
func (in *instance) sqsEnv(vars map[string]string, apiURL string) {
	for _, k := range []string{SQSAccessKeyIDEnv, SQSSecretEnv, SQSEndpointEnv} {
		delete(vars, k) // no stage env may pose as them
	}
	if apiURL == "" || in.t.cfg.SQS == nil {
		return
	}
	id, secret := in.t.cfg.SQS.SQSCredentials(in.stage)
	vars[SQSAccessKeyIDEnv], vars[SQSSecretEnv], vars[SQSEndpointEnv] = id, secret, apiURL
	for _, k := range ownAWSConfig {
		if _, ok := in.fn.Env[k]; ok {
			return
		}
	}
	vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], vars["AWS_ENDPOINT_URL_SQS"] = id, secret, apiURL
	if _, ok := vars["AWS_REGION"]; !ok {
		vars["AWS_REGION"] = lambdaRegion // the SDKs sign for a region
	}
}

// apiAddr is the address the instance's process calls Seedbed on: its
// Runtime API or its own listener; "" for none.
func (in *instance) apiAddr() string {
	switch {
	case in.t.cfg.QueueSender == nil:
		return ""
	case in.api != nil:
		return in.api.addr
	case in.sapi != nil:
		return in.sapi.addr
	}
	return ""
}
