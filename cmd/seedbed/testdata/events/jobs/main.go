// Command jobs is an unchanged aws-lambda-go handler that every function
// of the events test app runs. It tells its events apart by their shape:
//
//	EventBridge "Scheduled Event"  prints and answers its id and time
//	SQS batch                      fails records whose body starts with "poison",
//	                               sleeps 5 s on one that starts with "slow"
//	Lambda destination record      prints "failure record: CONDITION REQUEST-ID"
//	API Gateway request            body "fail-twice:KEY" fails the first two
//	                               times per KEY; "always-fail" always fails;
//	                               "sleep:MS" answers after MS milliseconds;
//	                               {"relay": MSG, "gateway": URL} sends MSG to
//	                               the stage's queue orders on
//	                               $SEEDBED_API_URL and tells whether URL
//	                               answered
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

var (
	mu    sync.Mutex
	tries = map[string]int{}
)

func main() { lambda.Start(handle) }

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		DetailType     string            `json:"detail-type"`
		Records        []json.RawMessage `json:"Records"`
		RouteKey       string            `json:"routeKey"`
		RequestContext struct {
			Condition string `json:"condition"`
			RequestID string `json:"requestId"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	switch {
	case probe.DetailType != "":
		var e events.EventBridgeEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		fmt.Println("scheduled event", e.ID, e.Time.Format(time.RFC3339Nano))
		return map[string]any{"id": e.ID, "time": e.Time, "detailType": e.DetailType}, nil
	case probe.Records != nil:
		var e events.SQSEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		var resp events.SQSEventResponse
		for _, r := range e.Records {
			if strings.HasPrefix(r.Body, "slow") {
				fmt.Println("slow message", r.Body)
				time.Sleep(5 * time.Second)
			}
			if !strings.HasPrefix(r.Body, "poison") {
				fmt.Println("took", r.Body, "receive", r.Attributes["ApproximateReceiveCount"])
			}
			if strings.HasPrefix(r.Body, "poison") {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	case probe.RequestContext.Condition != "":
		fmt.Println("failure record:", probe.RequestContext.Condition, probe.RequestContext.RequestID)
		return "noted", nil
	case probe.RouteKey != "":
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		if strings.HasPrefix(e.Body, `{"relay"`) {
			return relay(e.Body)
		}
		if e.Body == "always-fail" {
			fmt.Println("failing as told")
			return nil, errors.New("boom: always-fail")
		}
		if ms, ok := strings.CutPrefix(e.Body, "sleep:"); ok {
			d, _ := time.ParseDuration(ms + "ms")
			fmt.Println("sleeping", d)
			time.Sleep(d)
		}
		if key, ok := strings.CutPrefix(e.Body, "fail-twice:"); ok {
			mu.Lock()
			tries[key]++
			n := tries[key]
			mu.Unlock()
			if n <= 2 {
				fmt.Println("attempt", n, "of", key, "fails")
				return nil, fmt.Errorf("boom: attempt %d of %s", n, key)
			}
			fmt.Println("attempt", n, "of", key, "succeeds")
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "done " + e.Body}, nil
	}
	return nil, fmt.Errorf("unknown event: %.100s", raw)
}

// relay sends a message to the stage's queue orders from inside the
// function's sandbox, through its instance's own Seedbed API, and probes
// whether the gateway's URL is reachable from here.
func relay(body string) (any, error) {
	var in struct{ Relay, Gateway string }
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		return nil, err
	}
	out := map[string]any{"api": os.Getenv("SEEDBED_API_URL")}
	req, err := http.NewRequest(http.MethodPost, os.Getenv("SEEDBED_API_URL")+"/_seedbed/queues/orders", strings.NewReader(in.Relay))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("SEEDBED_QUEUE_TOKEN"))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		out["error"] = err.Error()
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out["status"], out["answer"] = resp.StatusCode, string(b)
	}
	if in.Gateway != "" {
		c := http.Client{Timeout: 2 * time.Second}
		out["gateway"] = "unreachable"
		if resp, err := c.Get(in.Gateway); err == nil {
			resp.Body.Close()
			out["gateway"] = "reachable"
		}
	}
	b, _ := json.Marshal(out)
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(b), Headers: map[string]string{"Content-Type": "application/json"}}, nil
}
