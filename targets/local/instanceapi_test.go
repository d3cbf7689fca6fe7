package local

import (
	"context"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

// fakeQueues is every queue dependency of the target at once.
type fakeQueues struct{}

func (fakeQueues) QueueToken(ref targets.StageRef) string { return "tok-" + ref.String() }
func (fakeQueues) VerifyQueueToken(ref targets.StageRef, token string) bool {
	return token == "tok-"+ref.String()
}
func (fakeQueues) SQSCredentials(ref targets.StageRef) (string, string) {
	return "AK-" + ref.String(), "secret-" + ref.String()
}
func (fakeQueues) SQSSecrets(targets.StageRef, string) []string { return nil }
func (fakeQueues) Send(context.Context, targets.StageRef, string, []byte) (string, error) {
	return "m", nil
}

func TestInstanceEnvForQueues(t *testing.T) {
	ref := targets.StageRef{App: "shop", Stage: "dev"}
	full := Config{QueueTokens: fakeQueues{}, QueueSender: fakeQueues{}, SQS: fakeQueues{}}
	for _, tc := range []struct {
		name  string
		cfg   Config
		fnEnv map[string]string
		want  map[string]string // "" means: not set
	}{
		{"no AWS configuration of its own: the SDK's variables point at Seedbed", full, nil, map[string]string{
			"SEEDBED_QUEUE_TOKEN": "tok-shop/dev", "SEEDBED_API_URL": "http://127.0.0.1:4321",
			"SEEDBED_SQS_ACCESS_KEY_ID": "AK-shop/dev", "SEEDBED_SQS_SECRET_ACCESS_KEY": "secret-shop/dev", "SEEDBED_SQS_ENDPOINT": "http://127.0.0.1:4321",
			"AWS_ACCESS_KEY_ID": "AK-shop/dev", "AWS_SECRET_ACCESS_KEY": "secret-shop/dev", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4321", "AWS_REGION": "local",
		}},
		{"real AWS credentials are left alone", full, map[string]string{"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SECRET_ACCESS_KEY": "real", "AWS_REGION": "eu-west-1"}, map[string]string{
			"SEEDBED_SQS_ACCESS_KEY_ID": "AK-shop/dev", "SEEDBED_SQS_ENDPOINT": "http://127.0.0.1:4321",
			"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SECRET_ACCESS_KEY": "real", "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_SQS": "",
		}},
		{"a profile of its own is left alone", full, map[string]string{"AWS_PROFILE": "prod"}, map[string]string{
			"AWS_ACCESS_KEY_ID": "", "AWS_ENDPOINT_URL_SQS": "", "SEEDBED_SQS_ACCESS_KEY_ID": "AK-shop/dev",
		}},
		{"a stage variable cannot pose as Seedbed's", full, map[string]string{"SEEDBED_QUEUE_TOKEN": "forged", "SEEDBED_API_URL": "http://evil", "SEEDBED_SQS_ENDPOINT": "http://evil"}, map[string]string{
			"SEEDBED_QUEUE_TOKEN": "tok-shop/dev", "SEEDBED_API_URL": "http://127.0.0.1:4321", "SEEDBED_SQS_ENDPOINT": "http://127.0.0.1:4321",
		}},
		{"no queues on this target", Config{}, map[string]string{"SEEDBED_QUEUE_TOKEN": "forged", "SEEDBED_API_URL": "http://evil"}, map[string]string{
			"SEEDBED_QUEUE_TOKEN": "", "SEEDBED_API_URL": "", "SEEDBED_SQS_ACCESS_KEY_ID": "", "AWS_ACCESS_KEY_ID": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &instance{t: &Target{cfg: tc.cfg}, stage: ref, runDir: t.TempDir(),
				fn: targets.Function{Service: "api", Name: "web", Runtime: "process", Env: tc.fnEnv}}
			if tc.cfg.QueueSender != nil {
				in.sapi = &instanceAPI{addr: "127.0.0.1:4321"}
			}
			got := map[string]string{}
			for _, kv := range in.env(8080) {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			for k, want := range tc.want {
				if v, ok := got[k]; want == "" && ok {
					t.Errorf("%s = %q, want it unset", k, v)
				} else if want != "" && v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
		})
	}
}
