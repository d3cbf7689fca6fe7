package apiv1

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FunctionLogLine is one line a function instance wrote.
type FunctionLogLine struct {
	Time     time.Time `json:"time"`
	Function string    `json:"function"` // "service/name"
	Instance string    `json:"instance"`
	Release  uint      `json:"release,omitempty"`
	Stream   string    `json:"stream"` // stdout, stderr, runtime (Lambda errors), seedbed (crash notes)
	Level    string    `json:"level"`  // error, warn, info, debug
	Text     string    `json:"text"`
	// Cursor is the position after this line; following from it returns
	// the lines written after it.
	Cursor string `json:"cursor"`
}

// FunctionLogPage is what GET /apps/{app}/stages/{stage}/logs answers: the
// newest matching lines, oldest first.
type FunctionLogPage struct {
	Lines []FunctionLogLine `json:"lines"`
	// Cursor is where the log ended when it was read: follow from it
	// (GET …/logs/events?cursor=) for exactly the lines written since.
	Cursor string `json:"cursor"`
	// More: older lines matched beyond the limit.
	More bool `json:"more"`
}

// FunctionLogQuery filters a stage's function log. Since and Until take a
// duration back from now ("15m", "2h", "7d") or an RFC 3339 time.
type FunctionLogQuery struct {
	Function string
	Since    string
	Until    string
	Grep     string // plain, case-sensitive text
	Limit    int    // 1 to 10,000; 0: 500
}

func (q FunctionLogQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"function": q.Function, "since": q.Since, "until": q.Until, "grep": q.Grep} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

func logsPath(app, stage string) string {
	return "/api/v1/apps/" + url.PathEscape(app) + "/stages/" + url.PathEscape(stage) + "/logs"
}

// FunctionLogs reads the newest lines of a stage's function log.
func (c *Client) FunctionLogs(ctx context.Context, app, stage string, q FunctionLogQuery) (FunctionLogPage, error) {
	var out FunctionLogPage
	err := c.do(ctx, http.MethodGet, logsPath(app, stage)+"?"+q.values().Encode(), nil, &out)
	return out, err
}

// FollowFunctionLogs streams the lines of a stage's function log written
// after cursor that match q's Function and Grep, calling emit for each,
// until ctx ends, emit fails or the server ends the stream (then it
// returns nil; call it again with the last line's cursor to go on).
func (c *Client) FollowFunctionLogs(ctx context.Context, app, stage, cursor string, q FunctionLogQuery, emit func(FunctionLogLine) error) error {
	v := url.Values{}
	if q.Function != "" {
		v.Set("function", q.Function)
	}
	if q.Grep != "" {
		v.Set("grep", q.Grep)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	path := logsPath(app, stage) + "/events?" + v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	// A stream has no overall timeout; the context ends it.
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reach Seedbed at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		apiErr := &APIError{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &apiErr.Body) != nil || apiErr.Body.Message == "" {
			apiErr.Body.Message = fmt.Sprintf("GET %s: server answered %s", path, resp.Status)
		}
		return apiErr
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "line" && data != "" {
				var l FunctionLogLine
				if err := json.Unmarshal([]byte(data), &l); err != nil {
					return fmt.Errorf("GET %s: decode line: %w", path, err)
				}
				if err := emit(l); err != nil {
					return err
				}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
