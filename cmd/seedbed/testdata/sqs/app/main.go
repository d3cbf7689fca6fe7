// Command app is an aws-lambda-go handler written as for AWS: an API
// Gateway request with body B sends B and "B (batch)" to the queue named by
// the request's ?queue= with the AWS SDK's SQS client, configured the
// default way (config.LoadDefaultConfig: credentials, region and endpoint
// from the environment); an SQS batch prints "took BODY" per message.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func main() { lambda.Start(handle) }

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records  []json.RawMessage `json:"Records"`
		RouteKey string            `json:"routeKey"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if probe.Records != nil {
		var e events.SQSEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		for _, r := range e.Records {
			fmt.Println("took", r.Body)
		}
		return events.SQSEventResponse{}, nil
	}
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(cfg)
	out := map[string]any{}
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(e.QueryStringParameters["queue"])})
	if err != nil {
		out["error"] = "GetQueueUrl: " + err.Error()
		return answer(out)
	}
	out["queueUrl"] = *url.QueueUrl
	sent, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(e.Body)})
	if err != nil {
		out["error"] = "SendMessage: " + err.Error()
		return answer(out)
	}
	out["messageId"] = *sent.MessageId
	batch, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("one"), MessageBody: aws.String(e.Body + " (batch)")},
	}})
	if err != nil {
		out["error"] = "SendMessageBatch: " + err.Error()
		return answer(out)
	}
	out["batchSent"], out["batchFailed"] = len(batch.Successful), len(batch.Failed)
	return answer(out)
}

func answer(out map[string]any) (any, error) {
	b, _ := json.Marshal(out)
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(b), Headers: map[string]string{"Content-Type": "application/json"}}, nil
}
