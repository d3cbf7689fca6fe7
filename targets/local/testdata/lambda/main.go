// Command lambda is the Lambda-style function the local target's tests run:
// an unchanged aws-lambda-go handler of API Gateway HTTP API events. It
// answers by the event's path, exactly as testdata/node/app.js and
// testdata/python/handler.py do:
//
//	/binary   the request body reversed, base64-encoded
//	/fail     an error
//	/panic    a panic (aws-lambda-go reports it, then the process exits)
//	/string   a plain string (API Gateway infers a 200 JSON response)
//	/object   an object without statusCode (inferred too)
//	/sleep    answers after ?ms=N milliseconds
//	/ping     a small response, for benchmarks
//	/hog      allocates and touches ?mb=N MiB
//	anything  else an echo of the event (see echo)
//
// CRASH=1 makes it exit before it starts the runtime loop.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// echo is what the function answers for most paths.
type echo struct {
	Runtime         string            `json:"runtime"`
	Greeting        string            `json:"greeting"`
	RouteKey        string            `json:"routeKey"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	PathParameters  map[string]string `json:"pathParameters"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Stage           string            `json:"stage"`
	DomainName      string            `json:"domainName"`
	SourceIP        string            `json:"sourceIp"`
	EventRequestID  string            `json:"eventRequestId"`
	RequestID       string            `json:"requestId"`
	FunctionName    string            `json:"functionName"`
	FunctionArn     string            `json:"functionArn"`
	RemainingMs     int64             `json:"remainingMs"`
	Env             map[string]string `json:"env"`
	PID             int               `json:"pid"`
}

var envKeys = []string{
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "TZ", "PORT", "SEEDBED_STAGE", "GOMEMLIMIT",
}

func main() {
	fmt.Println("lambda starting")
	if os.Getenv("CRASH") == "1" {
		fmt.Fprintln(os.Stderr, "boom: crashing at init as told")
		os.Exit(3)
	}
	lambda.Start(handle)
}

func handle(ctx context.Context, e events.APIGatewayV2HTTPRequest) (any, error) {
	switch e.RawPath {
	case "/binary":
		in := []byte(e.Body)
		if e.IsBase64Encoded {
			var err error
			if in, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
				return nil, err
			}
		}
		slices.Reverse(in)
		return events.APIGatewayV2HTTPResponse{
			StatusCode:      200,
			Headers:         map[string]string{"Content-Type": "application/octet-stream"},
			Body:            base64.StdEncoding.EncodeToString(in),
			IsBase64Encoded: true,
		}, nil
	case "/fail":
		return nil, errors.New("boom: the handler failed as told")
	case "/panic":
		panic("boom: the handler panicked as told")
	case "/string":
		return "hello, " + e.QueryStringParameters["name"], nil
	case "/object":
		return map[string]any{"hello": "world", "n": 1}, nil
	case "/sleep":
		ms, _ := strconv.Atoi(e.QueryStringParameters["ms"])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "slept"}, nil
	case "/hog":
		mb, _ := strconv.Atoi(e.QueryStringParameters["mb"])
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "touched " + strconv.Itoa(len(b)) + " bytes"}, nil
	case "/ping":
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "pong"}, nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	out := echo{
		Runtime:         "go",
		Greeting:        os.Getenv("GREETING"),
		RouteKey:        e.RouteKey,
		RawPath:         e.RawPath,
		RawQueryString:  e.RawQueryString,
		Query:           e.QueryStringParameters,
		Headers:         e.Headers,
		Cookies:         e.Cookies,
		PathParameters:  e.PathParameters,
		Body:            e.Body,
		IsBase64Encoded: e.IsBase64Encoded,
		Method:          e.RequestContext.HTTP.Method,
		Path:            e.RequestContext.HTTP.Path,
		Stage:           e.RequestContext.Stage,
		DomainName:      e.RequestContext.DomainName,
		SourceIP:        e.RequestContext.HTTP.SourceIP,
		EventRequestID:  e.RequestContext.RequestID,
		FunctionName:    lambdacontext.FunctionName,
		RemainingMs:     time.Until(deadline).Milliseconds(),
		Env:             map[string]string{},
		PID:             os.Getpid(),
	}
	if lc != nil {
		out.RequestID = lc.AwsRequestID
		out.FunctionArn = lc.InvokedFunctionArn
	}
	for _, k := range envKeys {
		if v, ok := os.LookupEnv(k); ok {
			out.Env[k] = v
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode:        200,
		Headers:           map[string]string{"Content-Type": "application/json", "X-Runtime": "go"},
		MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
		Cookies:           []string{"session=s3cr3t; Path=/; HttpOnly", "theme=dark"},
		Body:              string(body),
	}, nil
}
