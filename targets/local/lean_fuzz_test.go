package local

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/keepalive"
)

// FuzzLeanHead: whatever request net/http accepts from a client, the head
// the lean path writes for it reads back, with net/http's parser, as one
// request with the same method, path, query and end-to-end headers, the
// gateway's forwarding headers and exactly the body length announced:
// nothing a client sends can split it into two requests or smuggle a
// header past the gateway.
func FuzzLeanHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"GET /%2e%2e/etc HTTP/1.1\r\nHost: a\r\nConnection: X-A, close\r\nX-A: 1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET /a?b HTTP/1.0\r\nHost: h:80\r\nTe: trailers\r\nUpgrade: h2c\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil || !serverAccepts(in) || !leanEligible(in) {
			return
		}
		pt := &proxyTarget{rawPath: in.URL.EscapedPath(), fwd: gateway.Forwarding{Host: in.Host, Proto: "http", Port: "80", Client: "192.0.2.1", Chain: "192.0.2.1"}}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeHead(bw, in, pt)
		if in.ContentLength > 0 {
			if _, err := io.CopyN(bw, in.Body, in.ContentLength); err != nil {
				return // the fuzzer's body is shorter than it says: refused before a byte goes out
			}
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		head := buf.Len()                                        // the head and the body
		buf.WriteString("GET /next HTTP/1.1\r\nHost: n\r\n\r\n") // what a kept-alive connection carries next
		br := bufio.NewReader(&buf)
		out, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the head written does not read back: %v\n%q", err, buf.Bytes()[:head])
		}
		if out.Method != in.Method || out.URL.EscapedPath() != pt.rawPath || out.URL.RawQuery != in.URL.RawQuery || out.Host != in.Host {
			t.Fatalf("read back %s %s ? %s host %q, want %s %s ? %s host %q", out.Method, out.URL.EscapedPath(), out.URL.RawQuery, out.Host,
				in.Method, pt.rawPath, in.URL.RawQuery, in.Host)
		}
		if want := max(in.ContentLength, 0); out.ContentLength != want && !(want == 0 && out.ContentLength == 0) {
			t.Fatalf("read back Content-Length %d, want %d", out.ContentLength, want)
		}
		if len(out.TransferEncoding) > 0 {
			t.Fatalf("read back Transfer-Encoding %q: the gateway frames the body itself", out.TransferEncoding)
		}
		for k, vs := range out.Header {
			switch {
			case k == "Content-Length":
				if vs[0] != strconv.FormatInt(in.ContentLength, 10) {
					t.Fatalf("Content-Length %q, want %d", vs, in.ContentLength)
				}
			case gateway.IsForwardingHeader(k):
				if k == "X-Forwarded-For" && (len(vs) != 1 || vs[0] != "192.0.2.1") {
					t.Fatalf("X-Forwarded-For %q, want only the gateway's", vs)
				}
			case isHopHeader(k):
				t.Fatalf("hop-by-hop header %s passed on: %q", k, vs)
			default:
				if len(in.Header[k]) != len(vs) {
					t.Fatalf("header %s read back %q, sent %q", k, vs, in.Header[k])
				}
			}
		}
		// The body is the announced bytes; what follows is the next
		// request, whole.
		if _, err := br.Discard(int(out.ContentLength)); err != nil {
			t.Fatalf("the body read back is short: %v", err)
		}
		next, err := http.ReadRequest(br)
		if err != nil || next.URL.Path != "/next" {
			t.Fatalf("the next request on the connection does not read whole after this head: %v", err)
		}
	})
}

// serverAccepts applies the checks net/http's server makes beyond
// http.ReadRequest before a handler sees a request (a 400 or 505
// otherwise), and the gateway's own: a path to route.
func serverAccepts(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Host == "" || !httpguts.ValidHostHeader(r.Host) || len(r.Header["Host"]) > 1 ||
		!strings.HasPrefix(r.URL.EscapedPath(), "/") {
		return false
	}
	return keepalive.ValidFields(r.Header)
}
