package keepalive

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkLoopVsNetHTTP measures one kept-alive GET with a small answer
// through the loop and through net/http's server alone, with the same
// handler, over a real TCP connection: the time includes the client's
// side and the loopback; the allocations are the server's and the
// client's parser.
//
//	go test -run '^$' -bench LoopVsNetHTTP -benchmem ./keepalive/
func BenchmarkLoopVsNetHTTP(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, world\n")
	})
	for _, bc := range []struct {
		name string
		new  func() (serve func(net.Listener) error, shutdown func(context.Context) error)
	}{
		{"loop", func() (func(net.Listener) error, func(context.Context) error) {
			s := New(&http.Server{Handler: h})
			return s.Serve, s.Shutdown
		}},
		{"net-http", func() (func(net.Listener) error, func(context.Context) error) {
			s := &http.Server{Handler: h}
			return s.Serve, s.Shutdown
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			serve, shutdown := bc.new()
			go serve(ln)
			b.Cleanup(func() { shutdown(context.Background()) })
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
