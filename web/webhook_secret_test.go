package web_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web"
	"github.com/seedbed/seedbed/web/apiv1"
)

// logBuffer collects a server's log lines; the server writes from its
// handlers' goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// postGitHub posts a GitHub delivery signed with secret, as GitHub does.
func postGitHub(t *testing.T, url, secret, id string, body []byte) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The webhook secret is stored sealed; deliveries are verified, and owners
// are shown, the opened secret. A server whose key does not open it
// answers 500 and logs which key it needs, instead of calling a
// correctly signed delivery forged.
func TestWebhookSecretIsSealed(t *testing.T) {
	ctx := context.Background()
	st, accounts, tok := adminStore(t)
	sealerOf := func(key string) *pipelines.Sealer {
		t.Helper()
		s, err := pipelines.NewSealer([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sealer := sealerOf("0123456789abcdef0123456789abcdef")
	fake := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st, Sealer: sealer}), store: st}
	app, err := fake.CreateApp(ctx, pipelines.NewApp{Name: "shop", RepoURL: "https://github.com/acme/shop.git", Branch: "main", NoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := fake.WebhookSecret(app)
	if err != nil || len(secret) < 32 {
		t.Fatalf("the new app's webhook secret opens as %q, %v", secret, err)
	}
	if stored, _ := st.AppByName(ctx, "shop"); !pipelines.IsSealed(stored.WebhookSecret) || strings.Contains(stored.WebhookSecret, secret) {
		t.Fatalf("apps.webhook_secret holds %q", stored.WebhookSecret)
	}
	sealed := app.WebhookSecret

	// serve starts a console on the store with p; its log is returned.
	serve := func(t *testing.T, p web.Pipelines) (*fixture, *logBuffer) {
		t.Helper()
		logs := &logBuffer{}
		handler, err := web.New(web.Config{Store: st, Deliveries: st, Pipelines: p, Accounts: accounts,
			Assets: fstest.MapFS{"app.css": {Data: []byte("body{}")}}, GatewayURL: "http://gw.example",
			PublicURL: "https://seedbed.example", Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		return &fixture{srv: srv, store: st, accounts: accounts, token: tok}, logs
	}
	// One of GitHub's own example deliveries: a push to master, which no
	// stage follows, so a verified delivery is answered "ignored".
	body, err := os.ReadFile(filepath.Join("..", "pipelines", "forge", "testdata", "github", "push-new-branch.json"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("opened with the server's key", func(t *testing.T) {
		f, _ := serve(t, fake)
		tests := []struct {
			name       string
			signWith   string
			wantStatus int
			wantText   string
		}{
			{"signed with the secret the owner sees", secret, http.StatusAccepted, "no stage follows branch master"},
			{"signed with what the database holds", sealed, http.StatusUnauthorized, "does not match"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, answer := postGitHub(t, f.srv.URL+"/hooks/github/shop", tt.signWith, "ok-"+string(rune('a'+i)), body)
				if code != tt.wantStatus || !strings.Contains(answer, tt.wantText) {
					t.Fatalf("delivery: %d %s; want %d containing %q", code, answer, tt.wantStatus, tt.wantText)
				}
			})
		}
		hooks, err := apiv1.NewClient(f.srv.URL, tok).Webhooks(ctx, "shop")
		if err != nil || hooks.Secret != secret {
			t.Fatalf("the API shows the webhook secret as %q (%v), want the opened secret", hooks.Secret, err)
		}
		c, _ := f.signIn(t)
		code, page := getBody(t, c, f.srv.URL+"/apps/shop/settings")
		if code != http.StatusOK || !strings.Contains(page, `value="`+secret+`"`) || strings.Contains(page, sealed) {
			t.Fatalf("settings page %d: does not show the opened secret, or shows the sealed one", code)
		}
	})

	t.Run("under a key the server lacks", func(t *testing.T) {
		other := &fakePipelines{Service: pipelines.New(pipelines.Config{Store: st, Sealer: sealerOf("fedcba9876543210fedcba9876543210")}), store: st}
		f, logs := serve(t, other)
		code, answer := postGitHub(t, f.srv.URL+"/hooks/github/shop", secret, "wrong-key", body)
		if code != http.StatusInternalServerError || strings.Contains(answer, "does not match") || !strings.Contains(answer, "secret key") {
			t.Fatalf("delivery: %d %s; want 500 naming the server's secret key, not a signature mismatch", code, answer)
		}
		if l := logs.String(); !strings.Contains(l, "sealed under key "+sealer.KeyID()) || !strings.Contains(l, "app=shop") {
			t.Fatalf("the log does not say which key the webhook secret needs:\n%s", l)
		}
		ds, err := st.Deliveries(ctx, app.ID, 10)
		if err != nil || len(ds) == 0 || ds[0].DeliveryID != "wrong-key" || ds[0].Outcome != store.DeliveryRejected || !strings.Contains(ds[0].Reason, "could not open") {
			t.Fatalf("the delivery is recorded as %+v (%v)", ds, err)
		}
		var ae *apiv1.APIError
		if _, err := apiv1.NewClient(f.srv.URL, tok).Webhooks(ctx, "shop"); !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError {
			t.Fatalf("the API answers %v, want 500", err)
		}
		c, _ := f.signIn(t)
		if code, _ := getBody(t, c, f.srv.URL+"/apps/shop/settings"); code != http.StatusInternalServerError {
			t.Fatalf("settings page: %d, want 500", code)
		}
	})
}
