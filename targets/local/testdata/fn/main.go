// Command fn is the function the local target's tests run: an HTTP server on
// $PORT that describes each request it gets. Its environment steers it:
//
//	GREETING      the greeting it answers with
//	CRASH=1       print a line and exit with status 1 at once
//	START_DELAY   wait this long (a Go duration) before listening
//	START_HOG     allocate and touch this many MiB before listening
//	IDLE_TIMEOUT  close kept-alive connections idle this long (a Go duration)
//
// Paths: /sleep?d=DURATION answers after a delay; /stream writes three
// lines, DELAY apart (default 200ms); /hog?mb=N allocates and touches N
// MiB before it answers; /cookies answers with the Cookie header it got and
// adds each ?set= value as a Set-Cookie; /headers answers the Host and every
// header it got, as JSON; /size reads the body and answers its length;
// /ws echoes WebSocket messages; /try?read=PATH&list=DIR&dial=HOST:PORT
// (each repeatable) tries what an attacker's function would and answers what
// happened to each; /hop answers with headers of its connection (named in
// Connection), a trailer and a 103 Early Hints first; /cut announces 100
// bytes, sends 10 and drops the connection; anything else answers at once.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/websocket"
)

// Reply is what every request gets back.
type Reply struct {
	Greeting string            `json:"greeting"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	RawPath  string            `json:"raw_path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Env      map[string]string `json:"env"`
	PID      int               `json:"pid"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
}

func main() {
	fmt.Println("fn starting")
	if os.Getenv("CRASH") == "1" {
		fmt.Fprintln(os.Stderr, "boom: crashing as told")
		os.Exit(1)
	}
	if d, err := time.ParseDuration(os.Getenv("START_DELAY")); err == nil {
		time.Sleep(d)
	}
	if mb, err := strconv.Atoi(os.Getenv("START_HOG")); err == nil {
		fmt.Println("touched", len(hog(mb)), "bytes")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		reply(w, r)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			d = 200 * time.Millisecond
		}
		for i := range 3 {
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(d)
		}
	})
	mux.HandleFunc("/size", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "read the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d bytes\n", n)
	})
	mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { _, _ = io.Copy(c, c) }))
	mux.HandleFunc("/hog", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		fmt.Fprintf(w, "touched %d bytes\n", len(hog(mb)))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "boom: failing as told")
		// The target reads output as it comes; the line must be in before
		// the answer for the test to find it in the excerpt (a user's
		// function racing its last line is what docs/metrics.md says).
		time.Sleep(100 * time.Millisecond)
		http.Error(w, "failed as told", http.StatusInternalServerError)
	})
	mux.HandleFunc("/try", try)
	mux.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		for _, v := range r.URL.Query()["set"] {
			w.Header().Add("Set-Cookie", v)
		}
		fmt.Fprintf(w, "cookie: %s\n", r.Header.Get("Cookie"))
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "headers": r.Header})
	})
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h := w.Header()
		h.Set("Connection", "X-Hop-Secret")
		h.Set("X-Hop-Secret", "of this connection only")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Trailer", "X-Checksum")
		h.Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "headers": r.Header})
		h.Set("X-Checksum", "c0ffee")
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("0123456789"))
		http.NewResponseController(w).Flush() //nolint:errcheck // a test function
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("/", reply)
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: mux}
	if d, err := time.ParseDuration(os.Getenv("IDLE_TIMEOUT")); err == nil {
		srv.IdleTimeout = d
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		fmt.Println("fn stopping")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Println("fn listening on", os.Getenv("PORT"))
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// hog allocates mb MiB and writes to every page of it, so that it is
// really used, not only reserved.
func hog(mb int) []byte {
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

func reply(w http.ResponseWriter, r *http.Request) {
	rep := Reply{
		Greeting: os.Getenv("GREETING"),
		Method:   r.Method,
		Path:     r.URL.Path,
		RawPath:  r.URL.EscapedPath(),
		Query:    r.URL.RawQuery,
		Headers:  map[string]string{},
		Env:      map[string]string{},
		PID:      os.Getpid(),
		UID:      os.Getuid(),
		GID:      os.Getgid(),
	}
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix"} {
		rep.Headers[h] = r.Header.Get(h)
	}
	for _, k := range []string{"PORT", "SEEDBED_APP", "SEEDBED_STAGE", "SEEDBED_FUNCTION", "HOME", "PATH", "LANG"} {
		rep.Env[k] = os.Getenv(k)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// try answers, for each path to read, folder to list and address to dial,
// "ok" or the error.
func try(w http.ResponseWriter, r *http.Request) {
	out := map[string]string{}
	outcome := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	q := r.URL.Query()
	for _, p := range q["read"] {
		_, err := os.ReadFile(p)
		out["read "+p] = outcome(err)
	}
	for _, p := range q["list"] {
		_, err := os.ReadDir(p)
		out["list "+p] = outcome(err)
	}
	for _, a := range q["dial"] {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err == nil {
			c.Close()
		}
		out["dial "+a] = outcome(err)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
