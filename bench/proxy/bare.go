package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// bareProxy is a yardstick, not Seedbed: a Go proxy that does the HTTP
// work nginx does in this benchmark and no more. It reads a request's head
// line by line from the connection's buffer, drops the Connection field,
// adds X-Forwarded-For, writes the head and a Content-Length body to a
// kept-alive connection of the function, and copies the answer's head and
// its body (of known length, or chunked) back byte for byte. Nothing is
// parsed into a map or an http.Request, and a request allocates nothing
// but what strconv does. Loaded beside nginx and the gateway (-bare), it
// tells what is Go's cost and what is the HTTP object model's and
// Seedbed's (docs/benchmarks.md).
type bareProxy struct {
	upstream string
	idle     chan *bareUpstream
}

type bareUpstream struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newBareProxy(upstream string) *bareProxy {
	return &bareProxy{upstream: upstream, idle: make(chan *bareUpstream, 64)}
}

// serve accepts connections on ln until it is closed.
func (p *bareProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serveConn(c)
	}
}

var (
	fieldContentLength    = []byte("content-length")
	fieldConnection       = []byte("connection")
	fieldTransferEncoding = []byte("transfer-encoding")
)

func (p *bareProxy) serveConn(c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReaderSize(c, 4<<10), bufio.NewWriterSize(c, 4<<10)
	forwardedFor := []byte("X-Forwarded-For: " + c.RemoteAddr().(*net.TCPAddr).IP.String() + "\r\n\r\n")
	for {
		u, err := p.upstreamConn()
		if err != nil {
			return
		}
		if err := p.forward(br, bw, u, forwardedFor); err != nil {
			u.c.Close()
			return
		}
		select {
		case p.idle <- u:
		default:
			u.c.Close()
		}
		if br.Buffered() == 0 { // as nginx: one write for a pipelined batch
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

func (p *bareProxy) upstreamConn() (*bareUpstream, error) {
	select {
	case u := <-p.idle:
		return u, nil
	default:
	}
	c, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return nil, err
	}
	return &bareUpstream{c: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// forward passes one request from the client to u and its answer back.
func (p *bareProxy) forward(br *bufio.Reader, bw *bufio.Writer, u *bareUpstream, forwardedFor []byte) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	u.bw.Write(line)
	var length int64
	for {
		f, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(f) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			return errors.New("a field without a colon")
		}
		switch {
		case bytes.EqualFold(name, fieldConnection):
			continue
		case bytes.EqualFold(name, fieldTransferEncoding):
			return errors.New("a chunked request: not in this yardstick")
		case bytes.EqualFold(name, fieldContentLength):
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil {
				return err
			}
		}
		u.bw.Write(f)
	}
	u.bw.Write(forwardedFor)
	if _, err := io.CopyN(u.bw, br, length); err != nil {
		return err
	}
	if err := u.bw.Flush(); err != nil {
		return err
	}

	status, err := u.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	bw.Write(status)
	length, chunked := -1, false
	for {
		f, err := u.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		bw.Write(f)
		if len(f) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(f, []byte(":"))
		switch {
		case bytes.EqualFold(name, fieldContentLength):
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil {
				return err
			}
		case bytes.EqualFold(name, fieldTransferEncoding):
			chunked = true
		}
	}
	switch {
	case length >= 0:
		_, err = io.CopyN(bw, u.br, length)
		return err
	case chunked:
		for {
			size, err := u.br.ReadSlice('\n')
			if err != nil {
				return err
			}
			bw.Write(size)
			hex, _, _ := bytes.Cut(bytes.TrimSpace(size), []byte(";"))
			n, err := strconv.ParseInt(string(hex), 16, 64)
			if err != nil {
				return err
			}
			if n == 0 { // no trailers from the benchmark's function
				end, err := u.br.ReadSlice('\n')
				bw.Write(end)
				return err
			}
			if _, err := io.CopyN(bw, u.br, n+2); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("an answer without a length: not in this yardstick")
	}
}
