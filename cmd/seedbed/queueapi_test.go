package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// relayAnswer is what the relay functions of testdata/events answer.
type relayAnswer struct {
	API     string `json:"api"`     // their SEEDBED_API_URL
	Status  int    `json:"status"`  // of their send
	Answer  string `json:"answer"`  // its body
	Error   string `json:"error"`   // why the send failed
	Gateway string `json:"gateway"` // whether the gateway answered them
}

// waitTaken waits until the consumers of app's stage dev printed each
// line of want.
func waitTaken(t *testing.T, a *testApp, app string, want ...string) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		ev, err := a.api.StageEvents(ctx, app, "dev", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ev.Invocations {
			if b.Source != store.SourceQueue {
				continue
			}
			inv, err := a.api.Invocation(ctx, app, "dev", b.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(inv.LogExcerpt, "\n") {
				if slices.Contains(want, strings.TrimSpace(line)) {
					seen[strings.TrimSpace(line)] = true
				}
			}
		}
		if len(seen) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			var excerpts []string
			for _, b := range ev.Invocations {
				if inv, err := a.api.Invocation(ctx, app, "dev", b.ID); err == nil {
					excerpts = append(excerpts, inv.Function+" "+inv.Status+":\n"+inv.LogExcerpt)
				}
			}
			t.Fatalf("the consumer took %v of %q; invocations:\n%s", seen, want, strings.Join(excerpts, "\n"))
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
	t.Parallel()
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
	var want []string
	for _, m := range append(msgs, "direct /ev/dev/relay dev's token") {
		want = append(want, "took "+m+" receive 1")
	}
	waitTaken(t, a, "ev", want...)
}

// TestEventsSQSCompatible sends to a stage's queue with the AWS SDK for Go
// v2's SQS client: from a Lambda handler written as for AWS
// (config.LoadDefaultConfig, GetQueueUrl, SendMessage, SendMessageBatch),
// and from outside through the gateway with the credentials a deployer
// reads. The subscriber takes every message; another stage's credentials
// and an operation Seedbed does not offer are refused as AWS would.
//
// It runs unsandboxed, unlike TestEventsQueueSendFromFunctions (which shows
// the instance's API is what a sandboxed function reaches): a build as the
// unprivileged build user starts from an empty Go build cache, and
// compiling the SDK then took over the 3 minutes a deploy may take on the
// loaded test machine.
func TestEventsSQSCompatible(t *testing.T) {
	a := startApp(t, embedded)
	ctx := context.Background()
	repo := testutil.NewRepo(t)
	repo.Commit("sqs", testdataFiles(t, "testdata/sqs"))
	if _, err := a.api.CreateApp(ctx, apiv1.CreateAppRequest{Name: "sq", RepoURL: repo.Dir, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	a.mustDeploy("sq", "dev", "")

	// From inside: the handler's SDK finds everything in its environment.
	resp := send(t, http.MethodPost, a.gateway+"/sq/dev/send?queue=orders", http.Header{"Content-Type": {"text/plain"}}, []byte("from the handler"))
	var out struct {
		QueueURL    string `json:"queueUrl"`
		MessageID   string `json:"messageId"`
		BatchSent   int    `json:"batchSent"`
		BatchFailed int    `json:"batchFailed"`
		Error       string `json:"error"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &out) != nil {
		t.Fatalf("send: %d %q", resp.status, resp.body)
	}
	if out.Error != "" || out.MessageID == "" || out.BatchSent != 1 || out.BatchFailed != 0 ||
		!strings.HasPrefix(out.QueueURL, "http://127.0.0.1:") || !strings.HasSuffix(out.QueueURL, "/_seedbed/queues/orders") {
		t.Fatalf("the handler's SQS client: %+v", out)
	}

	// From outside, through the gateway, with a deployer's credentials.
	creds, err := a.api.QueueCredentials(ctx, "sq", "dev")
	if err != nil {
		t.Fatal(err)
	}
	client := func(id, secret string) *sqs.Client {
		return sqs.New(sqs.Options{Region: "local", BaseEndpoint: aws.String(creds.SQSEndpoint),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
			})})
	}
	c := client(creds.SQSAccessKeyID, creds.SQSSecretAccessKey)
	queueURL := creds.SendURL + "orders"
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("from outside")}); err != nil {
		t.Fatalf("SendMessage through the gateway: %v", err)
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("outside 1")},
		{Id: aws.String("b"), MessageBody: aws.String("outside 2")},
		{Id: aws.String("c"), MessageBody: aws.String("delayed"), DelaySeconds: 5},
	}})
	if err != nil || len(batch.Successful) != 2 || len(batch.Failed) != 1 || *batch.Failed[0].Id != "c" {
		t.Fatalf("SendMessageBatch through the gateway: %+v, %v", batch, err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(creds.SendURL + "nope"), MessageBody: aws.String("x")}); !apiCode(err, "QueueDoesNotExist") {
		t.Errorf("SendMessage to an undeclared queue: %v", err)
	}
	if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL)}); !apiCode(err, "UnsupportedOperation") {
		t.Errorf("ReceiveMessage: %v, want UnsupportedOperation", err)
	}
	prod, err := a.api.QueueCredentials(ctx, "sq", "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, id, secret, code string }{
		{"prod's credentials on dev", prod.SQSAccessKeyID, prod.SQSSecretAccessKey, "InvalidClientTokenId"},
		{"dev's key id with prod's secret", creds.SQSAccessKeyID, prod.SQSSecretAccessKey, "SignatureDoesNotMatch"},
	} {
		if _, err := client(tc.id, tc.secret).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("forged")}); !apiCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	waitTaken(t, a, "sq", "took from the handler", "took from the handler (batch)", "took from outside", "took outside 1", "took outside 2")
}

// apiCode tells whether err is an AWS API error with code.
func apiCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
