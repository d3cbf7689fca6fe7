package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/store"
)

// relayAnswer is what the relay functions of testdata/events answer.
type relayAnswer struct {
	API     string `json:"api"`     // their SEEDBED_API_URL
	Status  int    `json:"status"`  // of their send
	Answer  string `json:"answer"`  // its body
	Error   string `json:"error"`   // why the send failed
	Gateway string `json:"gateway"` // whether the gateway answered them
}

// waitTaken waits until the queue's consumer printed each of want.
func waitTaken(t *testing.T, a *testApp, want ...string) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		ev, err := a.api.StageEvents(ctx, "ev", "dev", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ev.Invocations {
			if b.Source != store.SourceQueue {
				continue
			}
			inv, err := a.api.Invocation(ctx, "ev", "dev", b.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if strings.Contains(inv.LogExcerpt, "took "+w+" receive 1") {
					seen[w] = true
				}
			}
		}
		if len(seen) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer took %v of %q", seen, want)
		}
	}
}

// TestEventsQueueSendFromFunctions has a Lambda-style function and an HTTP
// function send a message from inside their sandbox, on their instance's
// own API (SEEDBED_API_URL, with SEEDBED_QUEUE_TOKEN), and the stage's
// consumer take both. Functions run in the sandbox on a network of their
// own, where the gateway is out of their reach (checked: that is why the
// instance's API exists); the instance's API, reachable on the host's
// loopback, asks for the stage's token too.
func TestEventsQueueSendFromFunctions(t *testing.T) {
	needSandbox(t)
	a := startAppWith(t, embedded, func(c *Config) {
		c.DataDir, c.Isolation, c.BuildUser = passableDir(t), "sandbox", builders.UserAuto
	})
	if !a.isolation.Sandboxed || !a.isolation.OwnNetwork {
		t.Fatalf("functions are not sandboxed on a network of their own: %+v", a.isolation)
	}
	deployEventsApp(t, a)
	ctx := context.Background()
	prod, err := a.api.QueueCredentials(ctx, "ev", "prod")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := a.api.QueueCredentials(ctx, "ev", "dev")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, tc := range []struct{ name, route string }{
		{"lambda-style, on its Runtime API's port", "/ev/dev/relay"},
		{"HTTP function, on a listener of its own", "/ev/dev/relay-http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := "relayed by " + tc.route
			msgs = append(msgs, msg)
			body, _ := json.Marshal(struct {
				Relay   string `json:"relay"`
				Gateway string `json:"gateway"`
			}{msg, a.gateway + "/ev/dev/relay"})
			resp := send(t, http.MethodPost, a.gateway+tc.route, http.Header{"Content-Type": {"application/json"}}, body)
			var out relayAnswer
			if resp.status != http.StatusOK || json.Unmarshal(resp.body, &out) != nil {
				t.Fatalf("relay: %d %q", resp.status, resp.body)
			}
			if out.Status != http.StatusAccepted || !strings.Contains(out.Answer, "messageId") {
				t.Fatalf("the function's send: %+v", out)
			}
			if !strings.HasPrefix(out.API, "http://127.0.0.1:") {
				t.Errorf("SEEDBED_API_URL = %q", out.API)
			}
			if out.Gateway != "unreachable" {
				t.Errorf("the sandboxed function reached the gateway (%s): the test shows nothing", out.Gateway)
			}
			// The instance's API sends to its own stage only, with its token.
			for _, c := range []struct {
				name, auth string
				want       int
			}{
				{"no token", "", http.StatusUnauthorized},
				{"prod's token", "Bearer " + prod.Token, http.StatusUnauthorized},
				{"dev's token", "Bearer " + dev.Token, http.StatusAccepted},
			} {
				h := http.Header{}
				if c.auth != "" {
					h.Set("Authorization", c.auth)
				}
				if r := send(t, http.MethodPost, out.API+"/_seedbed/queues/orders", h, []byte("direct "+tc.route+" "+c.name)); r.status != c.want {
					t.Errorf("%s on the instance's API: %d %q, want %d", c.name, r.status, r.body, c.want)
				}
			}
		})
	}
	waitTaken(t, a, append(msgs, "direct /ev/dev/relay dev's token")...)
}
