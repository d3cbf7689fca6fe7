package local

import (
	"errors"
	"net/http"
	"time"

	"github.com/seedbed/seedbed/gateway"
)

var _ gateway.EventMaker = (*instance)(nil)

// MakeEvent turns a request for a Lambda-style function into the API
// Gateway event a call would have delivered, for an async invocation.
func (in *instance) MakeEvent(r *http.Request, body []byte, c *gateway.Call, requestID string) ([]byte, error) {
	if in.api == nil {
		return nil, errors.New("not a Lambda-style function")
	}
	return buildEvent(r, body, eventInput{call: c, requestID: requestID, at: time.Now()})
}
