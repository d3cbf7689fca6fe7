package local

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/seedbed/seedbed/gateway"
)

// The event of an API Gateway HTTP API with payload format 2.0, as
// documented in "Create AWS Lambda proxy integrations for HTTP APIs". The
// field names are AWS's; aws-lambda-go's events.APIGatewayV2HTTPRequest,
// Node's and Python's handlers read them.
type apiGatewayEvent struct {
	Version               string             `json:"version"`
	RouteKey              string             `json:"routeKey"`
	RawPath               string             `json:"rawPath"`
	RawQueryString        string             `json:"rawQueryString"`
	Cookies               []string           `json:"cookies,omitempty"`
	Headers               map[string]string  `json:"headers"`
	QueryStringParameters map[string]string  `json:"queryStringParameters,omitempty"`
	PathParameters        map[string]string  `json:"pathParameters,omitempty"`
	RequestContext        apiGatewayEventCtx `json:"requestContext"`
	Body                  string             `json:"body,omitempty"`
	IsBase64Encoded       bool               `json:"isBase64Encoded"`
}

type apiGatewayEventCtx struct {
	AccountID    string              `json:"accountId"`
	APIID        string              `json:"apiId"`
	DomainName   string              `json:"domainName"`
	DomainPrefix string              `json:"domainPrefix"`
	HTTP         apiGatewayEventHTTP `json:"http"`
	RequestID    string              `json:"requestId"`
	RouteKey     string              `json:"routeKey"`
	Stage        string              `json:"stage"`
	Time         string              `json:"time"`
	TimeEpoch    int64               `json:"timeEpoch"`
}

type apiGatewayEventHTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// eventInput is what buildEvent needs besides the request.
type eventInput struct {
	call      *gateway.Call // the route, path and forwarding the gateway found
	requestID string
	at        time.Time
}

// buildEvent turns a request and its body into an API Gateway payload
// 2.0 event. As API Gateway does, it names the public host in
// requestContext.domainName and headers.host and the client's address in
// requestContext.http.sourceIp (see forwarded.go for what counts).
func buildEvent(r *http.Request, body []byte, in eventInput) ([]byte, error) {
	c := in.call
	host := c.Forwarding.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := c.Path()
	routeKey := c.Route.Key()
	ev := apiGatewayEvent{
		Version:        "2.0",
		RouteKey:       routeKey,
		RawPath:        c.RawPath,
		RawQueryString: r.URL.RawQuery,
		Cookies:        requestCookies(r.Header),
		Headers:        eventHeaders(r.Header, c.Forwarding),
		PathParameters: c.Route.Params(c.Segments),
		RequestContext: apiGatewayEventCtx{
			AccountID:    lambdaAccount,
			APIID:        "seedbed",
			DomainName:   host,
			DomainPrefix: strings.SplitN(host, ".", 2)[0],
			HTTP: apiGatewayEventHTTP{
				Method:    r.Method,
				Path:      path,
				Protocol:  r.Proto,
				SourceIP:  c.Forwarding.Client,
				UserAgent: r.UserAgent(),
			},
			RequestID: in.requestID,
			RouteKey:  routeKey,
			Stage:     c.Stage.Stage,
			Time:      in.at.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: in.at.UnixMilli(),
		},
	}
	if q, _ := url.ParseQuery(r.URL.RawQuery); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if isTextual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode the event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// eventHeaders renders the request's headers as API Gateway does: names
// in lower case, repeated headers joined with commas, cookies left to the
// cookies field. Host and the forwarding headers are the gateway's, those
// an HTTP function gets; the client's own are dropped.
func eventHeaders(header http.Header, fwd gateway.Forwarding) map[string]string {
	h := make(map[string]string, len(header)+8)
	for k, vs := range header {
		if k == "Cookie" || gateway.IsForwardingHeader(k) {
			continue
		}
		h[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	h["host"] = fwd.Host
	fwd.Each(func(name, value string) { h[strings.ToLower(name)] = value })
	return h
}

// requestCookies returns every cookie of the request as "name=value".
func requestCookies(h http.Header) []string {
	var cookies []string
	for _, line := range h["Cookie"] {
		for c := range strings.SplitSeq(line, ";") {
			if c = strings.TrimSpace(c); c != "" {
				cookies = append(cookies, c)
			}
		}
	}
	return cookies
}

// isTextual reports whether a body of this content type travels as text
// in the event; anything else is base64-encoded.
func isTextual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(contentType), ";")
		mt = strings.TrimSpace(mt)
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/x-www-form-urlencoded",
		"application/javascript", "application/graphql", "application/x-ndjson":
		return true
	}
	return false
}

// lambdaHTTPResponse is a handler's result as an HTTP response.
type lambdaHTTPResponse struct {
	status int
	header http.Header
	body   []byte
}

// parseLambdaResponse reads a handler's result the way API Gateway's
// payload 2.0 does: a JSON object with a statusCode is a response
// (statusCode, headers, multiValueHeaders, cookies, body,
// isBase64Encoded); anything else is the body of a 200 application/json
// response, a string as it is, another value as JSON.
func parseLambdaResponse(payload []byte) (*lambdaHTTPResponse, error) {
	payload = bytes.TrimSpace(payload)
	inferred := func(body []byte) *lambdaHTTPResponse {
		return &lambdaHTTPResponse{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: body}
	}
	if len(payload) == 0 {
		return inferred(nil), nil
	}
	if !json.Valid(payload) {
		return nil, errors.New("the result is not JSON")
	}
	switch payload[0] {
	case '"':
		var s string
		if err := json.Unmarshal(payload, &s); err != nil {
			return nil, fmt.Errorf("decode the result: %w", err)
		}
		return inferred([]byte(s)), nil
	case '{':
	default:
		return inferred(payload), nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, fmt.Errorf("decode the result: %w", err)
	}
	if _, ok := fields["statusCode"]; !ok {
		return inferred(payload), nil
	}

	resp := &lambdaHTTPResponse{header: http.Header{}}
	status, err := jsonInt(fields["statusCode"])
	if err != nil || status < 200 || status > 599 {
		return nil, fmt.Errorf("statusCode %s is not an HTTP status from 200 to 599", fields["statusCode"])
	}
	resp.status = status
	if raw := fields["headers"]; len(raw) > 0 && string(raw) != "null" {
		var headers map[string]json.RawMessage
		if err := json.Unmarshal(raw, &headers); err != nil {
			return nil, fmt.Errorf("headers must be an object of strings: %w", err)
		}
		for k, v := range headers {
			s, ok, err := jsonScalar(v)
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", k, err)
			}
			if ok {
				resp.header.Set(k, s)
			}
		}
	}
	if raw := fields["multiValueHeaders"]; len(raw) > 0 && string(raw) != "null" {
		var headers map[string][]json.RawMessage
		if err := json.Unmarshal(raw, &headers); err != nil {
			return nil, fmt.Errorf("multiValueHeaders must be an object of string arrays: %w", err)
		}
		for k, vs := range headers {
			for _, v := range vs {
				s, ok, err := jsonScalar(v)
				if err != nil {
					return nil, fmt.Errorf("header %q: %w", k, err)
				}
				if ok {
					resp.header.Add(k, s)
				}
			}
		}
	}
	if raw := fields["cookies"]; len(raw) > 0 && string(raw) != "null" {
		var cookies []string
		if err := json.Unmarshal(raw, &cookies); err != nil {
			return nil, fmt.Errorf("cookies must be an array of strings: %w", err)
		}
		for _, c := range cookies {
			resp.header.Add("Set-Cookie", c)
		}
	}
	for k := range resp.header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("header name %q is not valid", k)
		}
	}
	var body string
	if raw := fields["body"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, errors.New("body must be a string (JSON-encode objects yourself)")
		}
	}
	var b64 bool
	if raw := fields["isBase64Encoded"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &b64); err != nil {
			return nil, errors.New("isBase64Encoded must be true or false")
		}
	}
	if b64 {
		if resp.body, err = base64.StdEncoding.DecodeString(body); err != nil {
			return nil, fmt.Errorf("body is not base64 although isBase64Encoded is true: %w", err)
		}
	} else {
		resp.body = []byte(body)
	}
	return resp, nil
}

// jsonInt reads an integer that may have been written as a string.
func jsonInt(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return strconv.Atoi(n.String())
}

// jsonScalar renders a header value: strings as they are, numbers and
// booleans as written; null is skipped (ok false).
func jsonScalar(raw json.RawMessage) (string, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil, err
	case '{', '[':
		return "", false, errors.New("the value must be a string, number or boolean")
	}
	return string(raw), true, nil
}

// write sends the response. Framing headers are the gateway's business.
func (resp *lambdaHTTPResponse) write(w http.ResponseWriter, requestID string) {
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer"} {
		resp.header.Del(k)
	}
	h := w.Header()
	for k, vs := range resp.header {
		h[k] = vs
	}
	h.Set("Apigw-Requestid", requestID)
	if resp.status == http.StatusNoContent || resp.status == http.StatusNotModified {
		w.WriteHeader(resp.status) // no body allowed
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}
