package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/targets"
)

// stageTokens gives each stage the token "tok-APP-STAGE".
type stageTokens struct{}

func (stageTokens) QueueToken(ref targets.StageRef) string { return "tok-" + ref.App + "-" + ref.Stage }
func (s stageTokens) VerifyQueueToken(ref targets.StageRef, token string) bool {
	return token == s.QueueToken(ref)
}

// recordingSender keeps the messages it was given.
type recordingSender struct{ got []string }

func (s *recordingSender) Send(ctx context.Context, ref targets.StageRef, queue string, body []byte) (string, error) {
	s.got = append(s.got, ref.String()+" "+queue+" "+string(body))
	return "m1", nil
}

func TestQueueSendNeedsTheStagesToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens QueueTokens
		path   string
		auth   string
		want   int
		sent   string
	}{
		{"its stage's token", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "Bearer tok-shop-dev", http.StatusAccepted, "shop/dev orders hello"},
		{"scheme in lower case", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "bearer tok-shop-dev", http.StatusAccepted, "shop/dev orders hello"},
		{"no token", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "", http.StatusUnauthorized, ""},
		{"another stage's token", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "Bearer tok-shop-prod", http.StatusUnauthorized, ""},
		{"another app's token", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "Bearer tok-other-dev", http.StatusUnauthorized, ""},
		{"basic auth", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "Basic tok-shop-dev", http.StatusUnauthorized, ""},
		{"bearer without a token", stageTokens{}, "/shop/dev/_seedbed/queues/orders", "Bearer ", http.StatusUnauthorized, ""},
		{"no token checker refuses all", nil, "/shop/dev/_seedbed/queues/orders", "Bearer tok-shop-dev", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender := &recordingSender{}
			g := New(Config{Queues: sender, QueueTokens: tc.tokens}, oneTable{})
			r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("hello"))
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d %q, want %d", w.Code, w.Body, tc.want)
			}
			if got := strings.Join(sender.got, ","); got != tc.sent {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
			if w.Code == http.StatusUnauthorized {
				if !strings.Contains(w.Body.String(), QueueTokenEnv) || !strings.Contains(w.Body.String(), "seedbed queues token shop dev") {
					t.Errorf("the refusal does not say where the token comes from: %q", w.Body)
				}
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
}
