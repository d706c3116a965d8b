package radius

import (
	"errors"
	"fmt"
)

// Error codes shared by every domain package. Each transport maps them in one place:
// Reply-Message in radius/server, HTTP status in portal, and the metric label everywhere.
const (
	ENOTFOUND     = "not_found"
	EINVALID      = "invalid"
	EEXPIRED      = "expired"
	EQUOTA        = "quota"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EINTERNAL     = "internal"
)

// Error is the domain's coded error. Message is safe to show to a user; the wrapped
// cause (if any) is for operators.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error returns the message with its cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err, or a generic one for internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
