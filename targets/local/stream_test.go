package local

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// The timeout bounds how long a function takes to start answering; an
// answer under way lasts as long as bytes keep moving, and is cut once
// they stop for the idle timeout.
func TestStreamsOutliveTheTimeout(t *testing.T) {
	b := setup(t)
	fn := goFn("hello", "v1", nil, "GET /stream", "GET /sleep")
	fn.Timeout, fn.IdleTimeout = 500*time.Millisecond, 900*time.Millisecond
	b.apply(t, shopDev, fn)

	t.Run("a stream longer than the timeout", func(t *testing.T) {
		began := time.Now()
		res := b.get(t, "/shop/dev/stream?d=600ms") // three lines, 1.8s in all
		if res.status != http.StatusOK || res.body != "line 0\nline 1\nline 2\n" {
			t.Fatalf("status %d body %q, want the three lines", res.status, res.body)
		}
		if took := time.Since(began); took < 1500*time.Millisecond {
			t.Errorf("the stream took %s; the function sleeps 1.8s", took)
		}
	})
	t.Run("a stream that goes idle", func(t *testing.T) {
		resp, err := b.client.Get(b.server.URL + "/shop/dev/stream?d=3s")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		began := time.Now()
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("read the whole body %q; want it cut after 900ms of silence", body)
		}
		if string(body) != "line 0\n" {
			t.Errorf("got %q before the cut, want the first line", body)
		}
		if took := time.Since(began); took < 800*time.Millisecond || took > 2500*time.Millisecond {
			t.Errorf("cut after %s, want about 900ms", took)
		}
	})
	t.Run("no answer within the timeout", func(t *testing.T) {
		res := b.get(t, "/shop/dev/sleep?d=2s")
		if res.status != http.StatusGatewayTimeout || !strings.Contains(res.body, "did not answer within 500ms") {
			t.Errorf("status %d body %q, want 504", res.status, res.body)
		}
	})
}

// A body over the function's limit is refused with 413, whether its size
// is announced or not; one within it reaches the function whole.
func TestRequestBodyLimit(t *testing.T) {
	b := setup(t)
	fn := goFn("hello", "v1", nil, "POST /size")
	fn.BodyLimit = 1
	b.apply(t, shopDev, fn)
	post := func(t *testing.T, body io.Reader, size int64) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.server.URL+"/shop/dev/size", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	within := bytes.Repeat([]byte("x"), 1<<20)
	if code, body := post(t, bytes.NewReader(within), int64(len(within))); code != http.StatusOK || body != "1048576 bytes\n" {
		t.Errorf("1 MiB: %d %q, want it whole", code, body)
	}
	over := bytes.Repeat([]byte("x"), 1<<20+1)
	for _, tt := range []struct {
		name string
		size int64
	}{{"announced", int64(len(over))}, {"chunked", -1}} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, io.MultiReader(bytes.NewReader(over)), tt.size)
			if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "accepts at most 1 MiB (body_limit in seedbed.yml)") {
				t.Errorf("%d %q, want 413 naming the limit", code, body)
			}
		})
	}
}

// WebSockets pass through the gateway both ways, unbuffered, for longer
// than the function's timeout; a silent one is closed after the idle
// timeout.
func TestWebSocketThroughGateway(t *testing.T) {
	b := setup(t)
	fn := goFn("hello", "v1", nil, "GET /ws")
	fn.Timeout, fn.IdleTimeout = 300*time.Millisecond, time.Second
	b.apply(t, shopDev, fn)
	url := "ws" + strings.TrimPrefix(b.server.URL, "http") + "/shop/dev/ws"
	ws, err := websocket.Dial(url, "", b.server.URL)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer ws.Close()
	r := bufio.NewReader(ws)
	for i, msg := range []string{"one\n", "two\n", "three\n"} {
		if i > 0 {
			time.Sleep(400 * time.Millisecond) // past the timeout, within the idle timeout
		}
		if _, err := ws.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		got, err := r.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	began := time.Now()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("read a message nobody sent")
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the silent WebSocket stayed open %s, want it closed after about 1s", took)
	}
}
