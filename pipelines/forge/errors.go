package forge

import (
	"errors"
	"fmt"
)

// Errors that Parse wraps, one per way the HTTP layer answers. Use
// errors.Is to classify; the error's own message is written for the user
// and says what to fix, without the sentinel's text in front of it.
var (
	// ErrSignature: the signature or token is missing or wrong, or the app
	// has no webhook secret. Answer 401; nothing happens.
	ErrSignature = errors.New("webhook signature rejected")
	// ErrMalformed: the body is not the JSON the forge sends for the event,
	// or lacks a field Seedbed needs. Answer 400; nothing happens.
	ErrMalformed = errors.New("webhook payload malformed")
	// ErrUnsupported: a genuine delivery of an event or action Seedbed does
	// not act on (an issue comment, a label change). Answer 202 and record
	// it as ignored, so the forge does not show a failing hook.
	ErrUnsupported = errors.New("webhook event not supported")
	// ErrTooLarge: the body is longer than MaxBody. Answer 413.
	ErrTooLarge = errors.New("webhook payload too large")
)

// deliveryError carries a message for the user and the sentinel that
// classifies it. Error returns only the message: the sentinel's text would
// add nothing a person can act on.
type deliveryError struct {
	sentinel error
	msg      string
}

func (e *deliveryError) Error() string { return e.msg }
func (e *deliveryError) Unwrap() error { return e.sentinel }

func signatureErrorf(format string, args ...any) error {
	return &deliveryError{sentinel: ErrSignature, msg: fmt.Sprintf(format, args...)}
}

func malformedf(format string, args ...any) error {
	return &deliveryError{sentinel: ErrMalformed, msg: fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &deliveryError{sentinel: ErrUnsupported, msg: fmt.Sprintf(format, args...)}
}
