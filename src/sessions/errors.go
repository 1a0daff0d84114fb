package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Error categories, as Pip.Services names them. Clients rebuild the kind of
// failure from the category, so these strings are part of the wire contract.
const (
	CategoryUnknown          = "Unknown"
	CategoryInternal         = "Internal"
	CategoryMisconfiguration = "Misconfiguration"
	CategoryNoResponse       = "NoResponse"
	CategoryBadRequest       = "BadRequest"
	CategoryUnauthorized     = "Unauthorized"
	CategoryNotFound         = "NotFound"
	CategoryConflict         = "Conflict"
	CategoryUnsupported      = "Unsupported"
)

// Error codes callers branch on.
const (
	CodeInvalidData         = "INVALID_DATA"
	CodeBadJSON             = "BAD_JSON"
	CodeBodyTooLarge        = "BODY_TOO_LARGE"
	CodeNotJSON             = "UNSUPPORTED_MEDIA_TYPE"
	CodeNotFound            = "NOT_FOUND"
	CodeMethodNotAllowed    = "METHOD_NOT_ALLOWED"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeStoreUnavailable    = "STORE_UNAVAILABLE"
	CodeInternal            = "INTERNAL"
	CodeSessionNotFound     = "SESSION_NOT_FOUND"
	CodeSessionExpired      = "SESSION_EXPIRED"
	CodeMaxSessionsExceeded = "MAX_SESSIONS_EXCEEDED"
	CodeDeviceNotRegistered = "DEVICE_NOT_REGISTERED"
	CodeDeviceMoved         = "DEVICE_MOVED"
	CodeParentNotFound      = "PARENT_NOT_FOUND"
	CodeSessionTooLarge     = "SESSION_TOO_LARGE"
	CodeServiceStopping     = "SERVICE_STOPPING"
	CodeTooManyStreams      = "TOO_MANY_STREAMS"
)

// ErrorBody is the wire form of an error: the Pip.Services error
// description the service sends and the client SDK decodes.
type ErrorBody struct {
	Type          string         `json:"type"`
	Category      string         `json:"category"`
	Status        int            `json:"status"`
	Code          string         `json:"code"`
	Message       string         `json:"message"`
	Details       map[string]any `json:"details"`
	CorrelationID string         `json:"correlation_id"`
	Cause         string         `json:"cause"`
	StackTrace    string         `json:"stack_trace"`
}

// MarshalJSON writes a correlation id, cause or stack trace the body has
// not as null, as the Node service writes them, rather than "".
func (b ErrorBody) MarshalJSON() ([]byte, error) {
	type plain ErrorBody // without this method
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return json.Marshal(struct {
		plain
		CorrelationID *string `json:"correlation_id"`
		Cause         *string `json:"cause"`
		StackTrace    *string `json:"stack_trace"`
	}{plain(b), orNull(b.CorrelationID), orNull(b.Cause), orNull(b.StackTrace)})
}

// Error is the one coded error of the service. It travels to the wire as the
// Pip.Services error body, and the client SDK decodes that body back into it.
type Error struct {
	Category string
	Code     string
	Message  string
	Details  map[string]any
	// Status is the HTTP status: set by the client when the error came over
	// HTTP. The server answers with its code's or category's status unless a
	// route sets one of its own here.
	Status int
	// CorrelationID is set by the client from the error body.
	CorrelationID string
	// Cause is the underlying error, kept for logs; it never reaches a client.
	Cause error
}

// Error returns the message with its code.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is matches another *Error by category and code, so sentinel-style checks
// such as errors.Is(err, &Error{Category: CategoryNotFound, Code: CodeSessionNotFound}) work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Category == e.Category && t.Code == e.Code
}

// BadRequest returns a BadRequest error.
func BadRequest(code, format string, args ...any) *Error {
	return &Error{Category: CategoryBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a NotFound error.
func NotFound(code, format string, args ...any) *Error {
	return &Error{Category: CategoryNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns a Conflict error.
func Conflict(code, format string, args ...any) *Error {
	return &Error{Category: CategoryConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// DefaultMaxBodySize is the largest request body the service takes when its
// endpoint sets no other bound.
const DefaultMaxBodySize = 1 << 20

// BodyTooLarge is the error of a request body over limit bytes, of category
// BadRequest (answered 413 over HTTP).
func BodyTooLarge(limit int64) *Error {
	return &Error{Category: CategoryBadRequest, Code: CodeBodyTooLarge,
		Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

// Unavailable wraps a storage failure: the store did not answer, so the
// change may or may not have been made. A repeatable command may be sent
// again once the store is back.
func Unavailable(cause error) *Error {
	return &Error{Category: CategoryNoResponse, Code: CodeStoreUnavailable,
		Message: "session store is unavailable", Cause: cause}
}

// IsUnavailable reports whether err is a storage failure Unavailable wraps:
// the change it was for may or may not have been made.
func IsUnavailable(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == CodeStoreUnavailable
}

// InvalidData returns the validation error Pip.Services returns, with its
// exact wording: "Validation failed: user_id must not be null".
func InvalidData(problems ...string) *Error {
	return &Error{Category: CategoryBadRequest, Code: CodeInvalidData,
		Message: "Validation failed: " + strings.Join(problems, ", ")}
}

// AsError returns err as an *Error, or nil.
func AsError(err error) *Error {
	e, _ := errors.AsType[*Error](err)
	return e
}

// Coded returns err as the coded error a client gets: the *Error in err's
// chain when there is one, and otherwise a new error with err as its Cause,
// NoResponse (STORE_UNAVAILABLE) when err is a deadline, which a caller may
// retry, and Internal (INTERNAL) for anything else. Coded(nil) is nil.
func Coded(err error) *Error {
	switch e := AsError(err); {
	case err == nil:
		return nil
	case e != nil:
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return Unavailable(err)
	}
	return &Error{Category: CategoryInternal, Code: CodeInternal, Message: "internal error", Cause: err}
}

type correlationKey struct{}

// correlationCtx carries a correlation id. It is what context.WithValue
// would build, in one allocation instead of two (the context and the boxed
// string): every request with a correlation id makes one.
type correlationCtx struct {
	context.Context
	id string
}

// Value returns the context itself for the correlation key, so that the
// lookup boxes nothing; CorrelationID reads the id from it.
func (c *correlationCtx) Value(key any) any {
	if _, ok := key.(correlationKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// MaxCorrelationID bounds, in bytes, a correlation id: a longer one is cut
// (at a character's start), so that no client makes the errors and log
// lines that echo it as large as its request.
const MaxCorrelationID = 256

// WithCorrelationID returns a context that carries the correlation id of a
// request, cut to MaxCorrelationID bytes: servers put it there, clients
// send it.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	if ctx == nil {
		panic("cannot create context from nil parent")
	}
	return &correlationCtx{Context: ctx, id: CutText(id, MaxCorrelationID)}
}

// CorrelationID returns the correlation id carried by ctx, or "".
func CorrelationID(ctx context.Context) string {
	if c, ok := ctx.Value(correlationKey{}).(*correlationCtx); ok {
		return c.id
	}
	return ""
}
