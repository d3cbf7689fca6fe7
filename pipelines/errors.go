package pipelines

import (
	"errors"
	"fmt"

	"github.com/seedbed/seedbed/store"
)

// Error codes. They let the web layer choose an HTTP status and show the
// user's message while the full error goes to the log.
const (
	EInvalid  = "invalid"   // the request is wrong; Message says how to fix it
	ENotFound = "not_found" // a named app, stage, build or deploy does not exist
	EConflict = "conflict"  // the name is taken, or the state forbids it now
	EInternal = "internal"  // anything else
)

// Error is a failure the user can act on.
type Error struct {
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

func invalidf(format string, args ...any) error {
	return &Error{Code: EInvalid, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &Error{Code: ENotFound, Message: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &Error{Code: EConflict, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the code of an *Error inside it,
// ENotFound or EConflict for the store's sentinels, else EInternal.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, store.ErrNotFound):
		return ENotFound
	case errors.Is(err, store.ErrConflict):
		return EConflict
	}
	return EInternal
}

// ErrorMessage returns what to tell the user about err. Internal errors
// get a generic text: their details are for the log, not the screen.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return err.Error()
	}
	return "Internal error: the details are in Seedbed's log."
}
