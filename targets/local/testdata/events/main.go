// Command events is the Lambda-style function the local target's event
// tests run: an unchanged aws-lambda-go handler that takes an EventBridge
// scheduled event or an SQS batch, decoded with aws-lambda-go's own types.
//
//	EventBridge  answers {"kind":"schedule","id":…,"time":…,"detailType":…}
//	SQS          fails the records whose body starts with "poison" through
//	             a partial batch response, and takes the others
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() { lambda.Start(handle) }

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
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
		fmt.Println("scheduled event", e.ID, e.Time.Format(time.RFC3339))
		return map[string]any{"kind": "schedule", "id": e.ID, "time": e.Time, "detailType": e.DetailType, "source": e.Source, "resources": e.Resources}, nil
	case probe.Records != nil:
		var e events.SQSEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		var resp events.SQSEventResponse
		for _, r := range e.Records {
			if strings.HasPrefix(r.Body, "poison") {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
	return nil, fmt.Errorf("unknown event: %.100s", raw)
}
