package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/seedbed/seedbed/targets"
)

// stageSQS gives each stage the access key id "AK-APP-STAGE" and the
// secret "secret-APP-STAGE".
type stageSQS struct{}

func (stageSQS) SQSCredentials(ref targets.StageRef) (string, string) {
	return "AK-" + ref.App + "-" + ref.Stage, "secret-" + ref.App + "-" + ref.Stage
}

func (s stageSQS) SQSSecrets(ref targets.StageRef, id string) []string {
	if want, secret := s.SQSCredentials(ref); id == want {
		return []string{secret}
	}
	return nil
}

// signedSQS is an SQS JSON request signed as the AWS SDK signs it.
func signedSQS(t testing.TB, url, target, body, keyID, secret, service string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, url, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "AmazonSQS."+target)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, "local", at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSQSSendMessageNeedsTheStagesSignature(t *testing.T) {
	const url = "http://gw.example/shop/dev/_seedbed/sqs"
	send := `{"QueueUrl":"http://127.0.0.1:1/_seedbed/queues/orders","MessageBody":"hello"}`
	now := time.Now()
	for _, tc := range []struct {
		name               string
		r                  func() *http.Request
		wantStatus         int
		wantCode, wantSent string
	}{
		{"signed with the stage's credentials", func() *http.Request {
			return signedSQS(t, url, "SendMessage", send, "AK-shop-dev", "secret-shop-dev", "sqs", now)
		}, http.StatusOK, "", "shop/dev orders hello"},
		{"another stage's credentials", func() *http.Request {
			return signedSQS(t, url, "SendMessage", send, "AK-shop-prod", "secret-shop-prod", "sqs", now)
		}, http.StatusForbidden, "InvalidClientTokenId", ""},
		{"the stage's key id, a wrong secret", func() *http.Request {
			return signedSQS(t, url, "SendMessage", send, "AK-shop-dev", "guessed", "sqs", now)
		}, http.StatusForbidden, "SignatureDoesNotMatch", ""},
		{"body changed after signing", func() *http.Request {
			r := signedSQS(t, url, "SendMessage", send, "AK-shop-dev", "secret-shop-dev", "sqs", now)
			forged := strings.Replace(send, "hello", "HELLO", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(forged)), int64(len(forged))
			return r
		}, http.StatusForbidden, "SignatureDoesNotMatch", ""},
		{"target changed after signing", func() *http.Request {
			r := signedSQS(t, url, "GetQueueUrl", send, "AK-shop-dev", "secret-shop-dev", "sqs", now)
			r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
			return r
		}, http.StatusForbidden, "SignatureDoesNotMatch", ""},
		{"signed for another service", func() *http.Request {
			return signedSQS(t, url, "SendMessage", send, "AK-shop-dev", "secret-shop-dev", "s3", now)
		}, http.StatusForbidden, "SignatureDoesNotMatch", ""},
		{"signed an hour ago", func() *http.Request {
			return signedSQS(t, url, "SendMessage", send, "AK-shop-dev", "secret-shop-dev", "sqs", now.Add(-time.Hour))
		}, http.StatusForbidden, "SignatureDoesNotMatch", ""},
		{"not signed", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, url, strings.NewReader(send))
			r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
			return r
		}, http.StatusForbidden, "MissingAuthenticationToken", ""},
		{"ReceiveMessage is not offered", func() *http.Request {
			return signedSQS(t, url, "ReceiveMessage", `{"QueueUrl":"x/orders"}`, "AK-shop-dev", "secret-shop-dev", "sqs", now)
		}, http.StatusBadRequest, "UnsupportedOperation", ""},
		{"a delay is refused, not dropped", func() *http.Request {
			return signedSQS(t, url, "SendMessage", `{"QueueUrl":"x/orders","MessageBody":"b","DelaySeconds":5}`, "AK-shop-dev", "secret-shop-dev", "sqs", now)
		}, http.StatusBadRequest, "UnsupportedOperation", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender := &recordingSender{}
			g := New(Config{Queues: sender, QueueTokens: stageTokens{}, SQS: stageSQS{}}, oneTable{})
			w := httptest.NewRecorder()
			g.ServeHTTP(w, tc.r())
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.wantStatus)
			}
			var answer struct {
				Type             string `json:"__type"`
				MD5OfMessageBody string
			}
			_ = json.Unmarshal(w.Body.Bytes(), &answer)
			if tc.wantCode != "" && answer.Type != "com.amazonaws.sqs#"+tc.wantCode {
				t.Errorf("error %q, want %s: %s", answer.Type, tc.wantCode, w.Body)
			}
			if got := strings.Join(sender.got, ","); got != tc.wantSent {
				t.Errorf("sent %q, want %q", got, tc.wantSent)
			}
			if tc.wantStatus == http.StatusOK && answer.MD5OfMessageBody != "5d41402abc4b2a76b9719d911017c592" {
				t.Errorf("MD5OfMessageBody %q", answer.MD5OfMessageBody)
			}
		})
	}
}

// BenchmarkSQSSendMessage is one signed SendMessage through the gateway:
// reading, verifying the signature (a signer run per key) and answering.
func BenchmarkSQSSendMessage(b *testing.B) {
	g := New(Config{Queues: &recordingSender{}, QueueTokens: stageTokens{}, SQS: stageSQS{}}, oneTable{})
	body := `{"QueueUrl":"x/orders","MessageBody":"hello"}`
	for b.Loop() {
		b.StopTimer()
		r := signedSQS(b, "http://gw.example/shop/dev/_seedbed/sqs", "SendMessage", body, "AK-shop-dev", "secret-shop-dev", "sqs", time.Now())
		w := httptest.NewRecorder()
		b.StartTimer()
		g.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body)
		}
	}
}
