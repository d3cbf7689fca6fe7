// Command jobs is an unchanged aws-lambda-go handler that every function
// of the events test app runs. It tells its events apart by their shape:
//
//	EventBridge "Scheduled Event"  prints and answers its id and time
//	SQS batch                      fails records whose body starts with "poison",
//	                               sleeps 5 s on one that starts with "slow"
//	Lambda destination record      prints "failure record: CONDITION REQUEST-ID"
//	API Gateway request            body "fail-twice:KEY" fails the first two
//	                               times per KEY; "always-fail" always fails;
//	                               "sleep:MS" answers after MS milliseconds
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
