package observe

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// Served is what the gateway knows of the function that served a request,
// told to the finish function Start returns.
type Served struct {
	App, Stage, Function string
	Instance             string
	Client               string // the client's address as the gateway believes it
	// Path is the path the function sees (without /APP/STAGE under path
	// routing); empty: the request's own.
	Path      string
	ColdStart bool
}

// Start begins observing one request the gateway serves for a function.
// It returns the writer and request to serve with (they see the status,
// the body's bytes and a failure the target notes) and finish, to call
// once the answer is written. With a nil obs it returns w and r unchanged
// and a finish that does nothing, so a gateway without metrics pays
// nothing:
//
//	w, r, finish := Start(g.observer, w, r)
//	defer finish(Served{App: ref.App, Stage: ref.Stage, Function: fn.Key()})
func Start(obs Observer, w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func(Served)) {
	if obs == nil {
		return w, r, func(Served) {}
	}
	// One allocation holds the recorder, the failure note and the
	// context that carries it; the request copy and finish are the
	// others. This runs for every request a function serves.
	o := &observation{obs: obs, began: time.Now()}
	o.rec.ResponseWriter = w
	o.ctx.Context = r.Context()
	o.req = r.WithContext(&o.ctx)
	return &o.rec, o.req, o.finish
}

// observation is one request being observed.
type observation struct {
	rec   recorder
	ctx   noteContext
	obs   Observer
	began time.Time
	req   *http.Request
}

func (o *observation) finish(s Served) {
	status := o.rec.status
	if status == 0 {
		// Nothing was written: the client went away before an answer
		// (net/http would send 200 to a handler that wrote nothing,
		// but the gateway always writes).
		status = 499
	}
	if s.Instance == "" {
		s.Instance, s.ColdStart = o.ctx.note.instance, o.ctx.note.cold
	}
	path := s.Path
	if path == "" {
		path = o.req.URL.Path
	}
	o.obs.Observe(Request{App: s.App, Stage: s.Stage, Function: s.Function, Instance: s.Instance,
		Method: o.req.Method, Path: path, Status: status, Duration: time.Since(o.began), Bytes: o.rec.bytes,
		Client: s.Client, ColdStart: s.ColdStart, At: o.began, Failure: o.ctx.note.f})
}

// recorder sees the status and size of an answer. Unwrap lets
// http.ResponseController (which the reverse proxy uses to flush and to
// hijack upgraded connections) reach the writer underneath.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush passes a flush on (http.Flusher): the proxy streams answers.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack passes a hijack on (http.Hijacker), for upgraded connections.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// Unwrap is for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
