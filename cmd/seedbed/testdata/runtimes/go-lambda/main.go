// Command go-lambda is an unchanged aws-lambda-go handler of API Gateway
// HTTP API events.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func main() { lambda.Start(handle) }

func handle(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	switch {
	case strings.HasSuffix(e.RawPath, "/binary"):
		in := []byte(e.Body)
		if e.IsBase64Encoded {
			var err error
			if in, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
		}
		slices.Reverse(in)
		return events.APIGatewayV2HTTPResponse{
			StatusCode:      200,
			Headers:         map[string]string{"content-type": "application/octet-stream"},
			Body:            base64.StdEncoding.EncodeToString(in),
			IsBase64Encoded: true,
		}, nil
	case strings.HasSuffix(e.RawPath, "/fail"):
		return events.APIGatewayV2HTTPResponse{}, errors.New("boom: go failed as told")
	}
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	query := e.QueryStringParameters
	if query == nil {
		query = map[string]string{}
	}
	cookies := e.Cookies
	if cookies == nil {
		cookies = []string{}
	}
	body, err := json.Marshal(map[string]any{
		"runtime":         "go",
		"method":          e.RequestContext.HTTP.Method,
		"rawPath":         e.RawPath,
		"rawQueryString":  e.RawQueryString,
		"query":           query,
		"header":          e.Headers["x-test"],
		"cookies":         cookies,
		"body":            e.Body,
		"isBase64Encoded": e.IsBase64Encoded,
		"requestId":       requestID,
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"content-type": "application/json", "x-runtime": "go"},
		Cookies:    []string{"session=abc; Path=/; HttpOnly", "theme=dark"},
		Body:       string(body),
	}, nil
}
