package keepalive

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeChunking is how much of a body is held before the head goes
// out: an answer that ends within it is sent with its Content-Length, a
// longer one chunked, as net/http's server does (same size).
const bufferBeforeChunking = 2048

// response is the http.ResponseWriter of a request the loop serves. It
// chooses the framing, the Content-Type, Date and Connection fields the
// way net/http's server does, so that a client cannot tell which served
// it.
type response struct {
	c           *conn
	req         *http.Request
	header      http.Header // the handler's
	sent        http.Header // the header as WriteHeader saw it: the head's
	status      int
	wroteHeader bool // the handler called WriteHeader (or Write)
	headSent    bool // the head is in the connection's buffer
	clen        int64
	written     int64
	chunked     bool
	closeAfter  bool
	buf         []byte // the body held before the head goes out
	declared    []string
	chunkHead   []byte
}

func (w *response) reset(c *conn, req *http.Request, buf []byte) {
	*w = response{c: c, req: req, header: make(http.Header), clen: -1, buf: buf, chunkHead: w.chunkHead[:0],
		closeAfter: httpguts.HeaderValuesContainsToken(req.Header["Connection"], "close")}
}

// Header is the header the handler fills before WriteHeader.
func (w *response) Header() http.Header { return w.header }

// WriteHeader sends an informational answer at once and notes any other
// status for the head.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		w.c.s.logf("http: superfluous response.WriteHeader call (keepalive)")
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		_ = w.header.WriteSubset(w.c.bw, noBodyFields)
		_, _ = w.c.bw.WriteString("\r\n")
		_ = w.c.bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
	if cl := w.sent.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.clen = v
		} else {
			// As net/http: the handler's header loses the field, the
			// head keeps it, and the answer goes out chunked without it.
			w.c.s.logf("http: invalid Content-Length of %q", cl)
			w.header.Del("Content-Length")
		}
	}
}

// Write holds the first bytes of the body, so that a short answer goes out
// with its length, and writes the rest as it comes.
func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.clen != -1 && w.written > w.clen {
		return 0, http.ErrContentLength
	}
	if !w.headSent {
		if len(w.buf)+len(p) <= cap(w.buf) {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.writeHead(false, sniffable(w.buf, p))
		w.writeBody(w.buf)
		w.buf = w.buf[:0]
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sniffable is what net/http's server would sniff a Content-Type from:
// the first 512 bytes of the body.
func sniffable(held, p []byte) []byte {
	if len(held) >= 512 || len(p) == 0 {
		return held
	}
	if len(held) == 0 {
		return p
	}
	return append(held[:len(held):len(held)], p[:min(len(p), 512-len(held))]...)
}

// Flush sends what the handler wrote so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends what the handler wrote so far (http.ResponseController
// calls it).
func (w *response) FlushError() error {
	w.sendHeld(false)
	return w.c.bw.Flush()
}

// sendHeld sends the head, if it has not gone yet, and the body held
// back for it; final says the handler has returned.
func (w *response) sendHeld(final bool) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.writeHead(final, w.buf)
		w.writeBody(w.buf)
		w.buf = w.buf[:0]
	}
}

// SetReadDeadline sets the connection's read deadline
// (http.ResponseController calls it).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline
// (http.ResponseController calls it).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex is a no-op: the handler may read the body while it
// writes, since the body is read from the connection's own buffer.
func (w *response) EnableFullDuplex() error { return nil }

// finish ends the answer after the handler returned; false when the
// connection failed.
func (w *response) finish() bool {
	w.sendHeld(true)
	if w.clen != -1 && bodyAllowedForStatus(w.status) && w.clen != w.written {
		w.closeAfter = true // too short: the client would wait for the rest
	}
	if w.chunked {
		bw := w.c.bw
		_, _ = bw.WriteString("0\r\n")
		if t := w.finalTrailers(); t != nil {
			_ = t.Write(bw)
		}
		_, _ = bw.WriteString("\r\n")
	}
	return w.c.bw.Flush() == nil
}

// finalTrailers are the trailers the handler set: declared names it gave
// values, and names under http.TrailerPrefix.
func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[name] = vs
		}
	}
	for _, k := range w.declared {
		if vs, ok := w.header[k]; ok {
			if t == nil {
				t = http.Header{}
			}
			t[k] = vs
		}
	}
	return t
}

// Fields net/http's server leaves out of heads without a body.
var (
	noBodyFields = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}
)

// writeHead writes the status line and fields, choosing the framing as
// net/http's server does (chunkWriter.writeHeader): final says the handler
// has returned and first is the start of the body.
func (w *response) writeHead(final bool, first []byte) {
	w.headSent = true
	h := w.sent
	trailers := false
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			delete(h, k)
			trailers = true
		}
	}
	for _, v := range h["Trailer"] {
		trailers = true
		for name := range strings.SplitSeq(v, ",") {
			if name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name != "" {
				switch name {
				case "Transfer-Encoding", "Trailer", "Content-Length":
				default:
					w.declared = append(w.declared, name)
				}
			}
		}
	}
	te := h.Get("Transfer-Encoding")
	hasTE := te != ""
	allowed := bodyAllowedForStatus(w.status)
	// The fields the server adds go out after the handler's, written
	// straight into the buffer (net/http's extraHeader): no allocation.
	addLength, addType, addDate, addClose := false, "", false, false
	if final && !trailers && !hasTE && allowed && len(h["Content-Length"]) == 0 {
		w.clen = int64(len(first))
		addLength = true
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") || w.c.s.inShutdown.Load() {
		w.closeAfter = true
	}
	if allowed {
		_, haveType := h["Content-Type"]
		if h.Get("Content-Encoding") == "" && !haveType && !hasTE && len(first) > 0 {
			addType = http.DetectContentType(first)
		}
	} else {
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
		if w.status == http.StatusNotModified {
			delete(h, "Content-Type")
		}
		w.clen = -1
		addLength = false
	}
	if _, ok := h["Date"]; !ok {
		addDate = true
	}
	if w.clen != -1 && hasTE && te != "identity" {
		w.c.s.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, w.clen)
		delete(h, "Content-Length")
		w.clen = -1
		addLength = false
	}
	switch {
	case !allowed || w.status == http.StatusNoContent:
		delete(h, "Transfer-Encoding")
	case w.clen != -1:
		delete(h, "Transfer-Encoding")
	case hasTE && te == "identity":
		w.closeAfter = true
		delete(h, "Transfer-Encoding")
	default:
		w.chunked = true
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length")
	}
	if w.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		delete(h, "Connection")
		addClose = true
	}
	w.writeStatusLine(w.status)
	bw := w.c.bw
	_ = h.Write(bw)
	if addLength {
		_, _ = bw.WriteString("Content-Length: ")
		w.chunkHead = strconv.AppendInt(w.chunkHead[:0], w.clen, 10)
		_, _ = bw.Write(w.chunkHead)
		_, _ = bw.WriteString("\r\n")
	}
	if addType != "" {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(addType)
		_, _ = bw.WriteString("\r\n")
	}
	if addDate {
		_, _ = bw.Write(w.c.s.dateField())
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if addClose {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	var num [3]byte
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")
}

// writeBody writes p, as a chunk when the answer is chunked; the error
// is the connection's (the client went away).
func (w *response) writeBody(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.c.bw
	if w.chunked {
		w.chunkHead = strconv.AppendInt(w.chunkHead[:0], int64(len(p)), 16)
		w.chunkHead = append(w.chunkHead, '\r', '\n')
		_, _ = bw.Write(w.chunkHead)
		_, _ = bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// bodyAllowedForStatus reports whether an answer with status may have a
// body (RFC 9110, section 6.4.1).
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}
