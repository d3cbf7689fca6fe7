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
		ep := gateway.QueueEndpoint{Sender: t.cfg.QueueSender, Tokens: t.cfg.QueueTokens}
		mux.HandleFunc(strings.TrimSuffix(gateway.QueuePrefix, "/")+"/{name}", func(w http.ResponseWriter, r *http.Request) {
			ep.ServeSend(w, r, ref, r.PathValue("name"))
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
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// close stops serving; nil is fine.
func (a *instanceAPI) close() {
	if a != nil {
		_ = a.srv.Close()
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
