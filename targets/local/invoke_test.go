package local

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// scheduledEvent is an EventBridge "Scheduled Event" as the events
// package writes it.
const scheduledEvent = `{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"Scheduled Event","source":"aws.events",` +
	`"account":"000000000000","time":"2026-12-06T20:35:00Z","region":"local","resources":["arn:seedbed:events:local:000000000000:rule/shop/dev/api-tick-0"],"detail":{}}`

// sqsBatch is an SQS event of two records, one of them poison.
const sqsBatch = `{"Records":[` +
	`{"messageId":"m-1","receiptHandle":"r-1","body":"order 1","attributes":{"ApproximateReceiveCount":"1"},"messageAttributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:local:000000000000:orders","awsRegion":"local"},` +
	`{"messageId":"m-2","receiptHandle":"r-2","body":"poison pill","attributes":{"ApproximateReceiveCount":"1"},"messageAttributes":{},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:local:000000000000:orders","awsRegion":"local"}]}`

// withEventHandlers adds the artifacts of the event handlers: "go-events"
// (testdata/events built as bootstrap) and the Node one in testdata/node.
func withEventHandlers(t *testing.T) func(*Config) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "events")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/events")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/events: %v\n%s", err, out)
	}
	return func(c *Config) {
		withTrees(c)
		c.Artifacts.(*treeArtifacts).trees[digest("go-events")] = func(dest string) error {
			b, err := os.ReadFile(bin)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dest, "bootstrap"), b, 0o755)
		}
	}
}

func TestInvokeLambdaEvents(t *testing.T) {
	tests := []struct {
		name, runtime, handler, artifact, needs string
	}{
		{name: "go", runtime: "go", handler: "bootstrap", artifact: "go-events"},
		{name: "node", runtime: "node", handler: "events.handler", artifact: "node", needs: "node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			need(t, tc.needs)
			b := setup(t, withEventHandlers(t))
			// No routes: the function is reached through events only.
			fn := targets.Function{Service: "api", Name: "tick", Runtime: tc.runtime, Kind: stack.KindLambda, Handler: tc.handler,
				Digest: digest(tc.artifact), Timeout: 5 * time.Second, Events: []stack.Event{{Schedule: "rate(1 minute)"}}}
			b.apply(t, shopDev, fn)

			res, err := b.target.Invoke(t.Context(), shopDev, "api/tick", targets.Event{ID: "inv-1", Payload: []byte(scheduledEvent)})
			if err != nil {
				t.Fatalf("Invoke scheduled event: %v", err)
			}
			var got struct {
				Kind, ID, DetailType, Source string
				Time                         time.Time
				Resources                    []string
			}
			if err := json.Unmarshal(res.Payload, &got); err != nil {
				t.Fatalf("decode %q: %v", res.Payload, err)
			}
			want := time.Date(2026, 12, 6, 20, 35, 0, 0, time.UTC)
			if got.Kind != "schedule" || got.ID != "7bf73129-1428-4cd3-a780-95db273d1602" || got.DetailType != "Scheduled Event" ||
				got.Source != "aws.events" || !got.Time.Equal(want) || len(got.Resources) != 1 {
				t.Errorf("the handler saw %+v", got)
			}

			res, err = b.target.Invoke(t.Context(), shopDev, "api/tick", targets.Event{ID: "inv-2", Payload: []byte(sqsBatch)})
			if err != nil {
				t.Fatalf("Invoke SQS batch: %v", err)
			}
			var batch struct {
				BatchItemFailures []struct {
					ItemIdentifier string `json:"itemIdentifier"`
				} `json:"batchItemFailures"`
			}
			if err := json.Unmarshal(res.Payload, &batch); err != nil || len(batch.BatchItemFailures) != 1 || batch.BatchItemFailures[0].ItemIdentifier != "m-2" {
				t.Errorf("batch response %s (%v), want m-2 as the one failure", res.Payload, err)
			}
			// The output is read as the process writes it; by the next
			// answer the line of the first is in the excerpt.
			if !strings.Contains(res.Output, "scheduled event 7bf73129") {
				t.Errorf("output excerpt %q lacks the handler's line", res.Output)
			}

			// A handler error fails the invocation and says why.
			_, err = b.target.Invoke(t.Context(), shopDev, "api/tick", targets.Event{ID: "inv-3", Payload: []byte(`{"what":"else"}`)})
			if err == nil || !strings.Contains(err.Error(), "unknown event") {
				t.Errorf("Invoke of an unknown event = %v, want the handler's error", err)
			}
		})
	}
}

func TestInvokeHTTPFunction(t *testing.T) {
	b := setup(t)
	fn := goFn("web", "v1", map[string]string{"GREETING": "hi"}, "GET /hi")
	fn.Timeout = time.Second
	b.apply(t, shopDev, fn)

	res, err := b.target.Invoke(t.Context(), shopDev, "api/web", targets.Event{ID: "inv-1", Path: "/events/tick", Payload: []byte(scheduledEvent)})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var r reply
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("decode %q: %v", res.Payload, err)
	}
	if res.Status != 200 || r.Method != "POST" || r.Path != "/events/tick" {
		t.Errorf("the function saw %d %+v", res.Status, r)
	}
	res, err = b.target.Invoke(t.Context(), shopDev, "api/web", targets.Event{ID: "inv-h", Path: "/headers", Payload: []byte(`{}`)})
	var h struct{ Headers map[string][]string }
	if err != nil || json.Unmarshal(res.Payload, &h) != nil {
		t.Fatalf("Invoke /headers: %v %s", err, res.Payload)
	}
	if got := h.Headers["X-Seedbed-Invocation-Id"]; len(got) != 1 || got[0] != "inv-h" || h.Headers["Content-Type"][0] != "application/json" {
		t.Errorf("headers the function got: %v", h.Headers)
	}

	// Slower than its timeout: the invocation fails.
	_, err = b.target.Invoke(t.Context(), shopDev, "api/web", targets.Event{ID: "inv-2", Path: "/sleep?d=3s"})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 1s") {
		t.Errorf("Invoke of a slow function = %v, want a timeout", err)
	}

	// Nothing deployed there, or no such function: ErrNotRunning.
	for _, c := range []struct {
		ref targets.StageRef
		key string
	}{{shopStaging, "api/web"}, {shopDev, "api/nope"}} {
		if _, err := b.target.Invoke(t.Context(), c.ref, c.key, targets.Event{}); !errors.Is(err, targets.ErrNotRunning) {
			t.Errorf("Invoke %s of %s = %v, want ErrNotRunning", c.key, c.ref, err)
		}
	}
}
