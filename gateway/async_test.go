package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// oneTable serves one table for every stage.
type oneTable struct{ t *Table }

func (o oneTable) Table(targets.StageRef) *Table { return o.t }

// countingUpstream answers 200 "sync" and counts the calls it served.
type countingUpstream struct{ served int }

func (u *countingUpstream) Acquire() bool { return true }
func (u *countingUpstream) Release()      {}
func (u *countingUpstream) Serve(w http.ResponseWriter, r *http.Request, c *Call) {
	u.served++
	_, _ = io.WriteString(w, "sync")
}

// eventUpstream is a Lambda-style upstream: it turns requests into events.
type eventUpstream struct{ countingUpstream }

func (u *eventUpstream) MakeEvent(r *http.Request, body []byte, c *Call, id string) ([]byte, error) {
	return json.Marshal(map[string]string{"rawPath": c.RawPath, "body": string(body), "requestId": id})
}

// recordingAsync keeps what it was asked to queue, or refuses with err.
type recordingAsync struct {
	got []targets.Event
	err error
}

func (a *recordingAsync) Enqueue(ctx context.Context, ref targets.StageRef, fn targets.Function, ev targets.Event) (string, error) {
	if a.err != nil {
		return "", a.err
	}
	a.got = append(a.got, ev)
	return ev.ID, nil
}

type refusal struct{ status int }

func (r refusal) Error() string   { return "refused" }
func (r refusal) HTTPStatus() int { return r.status }

func TestAsyncInvocation(t *testing.T) {
	httpFn := targets.Function{Service: "api", Name: "web", Runtime: "go", Routes: []stack.Route{{Method: "POST", Path: "/orders"}}}
	lambdaFn := targets.Function{Service: "api", Name: "fn", Runtime: "go", Kind: stack.KindLambda, Routes: []stack.Route{{Method: "POST", Path: "/events"}}}
	table, err := NewTable([]targets.Function{httpFn, lambdaFn})
	if err != nil {
		t.Fatal(err)
	}
	web, fn := &countingUpstream{}, &eventUpstream{}
	table.Bind(func(key string) Upstream {
		if key == "api/web" {
			return web
		}
		return fn
	})
	do := func(g *Gateway, path, typ string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"n":1}`))
		r.Header.Set("Content-Type", "application/json")
		if typ != "" {
			r.Header.Set(InvocationTypeHeader, typ)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}

	async := &recordingAsync{}
	g := New(Config{Async: async}, oneTable{table})
	tests := []struct {
		name, path, typ string
		status          int
	}{
		{"a call without the header waits", "/shop/dev/orders", "", http.StatusOK},
		{"RequestResponse waits", "/shop/dev/orders", "RequestResponse", http.StatusOK},
		{"Event is queued for an HTTP function", "/shop/dev/orders?x=1", "Event", http.StatusAccepted},
		{"Event is queued for a Lambda function", "/shop/dev/events", "event", http.StatusAccepted},
		{"an unknown type is refused", "/shop/dev/orders", "Later", http.StatusBadRequest},
		{"no route, no queueing", "/shop/dev/nope", "Event", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(g, tc.path, tc.typ)
			if w.Code != tc.status {
				t.Fatalf("status %d %q, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == http.StatusAccepted {
				var got struct{ InvocationID, Status string }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.InvocationID == "" || got.InvocationID != w.Header().Get("X-Seedbed-Invocation-Id") {
					t.Errorf("body %q (%v), header %q: want the invocation id in both", w.Body, err, w.Header().Get("X-Seedbed-Invocation-Id"))
				}
			}
		})
	}
	if web.served != 2 || fn.served != 0 || len(async.got) != 2 {
		t.Fatalf("served sync %d/%d, queued %d; want 2/0 and 2 queued", web.served, fn.served, len(async.got))
	}
	// The HTTP function gets the request again later: method, path and
	// query, headers without the invocation type.
	h := async.got[0]
	if h.Method != "POST" || h.Path != "/orders?x=1" || string(h.Payload) != `{"n":1}` || h.Header.Get("Content-Type") != "application/json" || h.Header.Get(InvocationTypeHeader) != "" {
		t.Errorf("queued for the HTTP function: %+v", h)
	}
	// The Lambda function gets the event a call would have delivered.
	if l := async.got[1]; l.Method != "" || !strings.Contains(string(l.Payload), `"rawPath":"/events"`) || !strings.Contains(string(l.Payload), l.ID) {
		t.Errorf("queued for the Lambda function: %+v %s", l, l.Payload)
	}

	// Refusals keep their status; other failures are 503; no Async is 501.
	for _, c := range []struct {
		err  error
		want int
	}{{refusal{http.StatusTooManyRequests}, 429}, {refusal{http.StatusRequestEntityTooLarge}, 413}, {errors.New("redis down"), 503}} {
		if w := do(New(Config{Async: &recordingAsync{err: c.err}}, oneTable{table}), "/shop/dev/orders", "Event"); w.Code != c.want {
			t.Errorf("Enqueue error %v: status %d, want %d", c.err, w.Code, c.want)
		}
	}
	if w := do(New(Config{}, oneTable{table}), "/shop/dev/orders", "Event"); w.Code != http.StatusNotImplemented {
		t.Errorf("without Async: %d, want 501", w.Code)
	}
}
