package service

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// statusByCategory is the one table from error category to HTTP status,
// Pip.Services' own: every other category is 500. Clients rebuild the kind
// of failure from the category; NoResponse (the store is unreachable, code
// STORE_UNAVAILABLE) is the one after which a repeatable command may be
// sent again.
var statusByCategory = map[string]int{
	sessions.CategoryBadRequest:   http.StatusBadRequest,
	sessions.CategoryUnauthorized: http.StatusUnauthorized,
	sessions.CategoryNotFound:     http.StatusNotFound,
	sessions.CategoryConflict:     http.StatusConflict,
}

// statusByCode refines statusByCategory for the codes HTTP has a status
// of its own for.
var statusByCode = map[string]int{
	sessions.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	sessions.CodeBodyTooLarge:     http.StatusRequestEntityTooLarge,
	sessions.CodeNotJSON:          http.StatusUnsupportedMediaType,
	sessions.CodeServiceStopping:  http.StatusServiceUnavailable,
	sessions.CodeTooManyStreams:   http.StatusServiceUnavailable,
}

// statusOfError returns the HTTP status an error is answered with: the
// status a route set on it (the heartbeat's 503), its code's, or its
// category's.
func statusOfError(e *sessions.Error) int {
	if e.Status != 0 {
		return e.Status
	}
	if status, ok := statusByCode[e.Code]; ok {
		return status
	}
	return statusOf(e.Category)
}

// answerStatus returns the status of the answer to a command: its error's,
// or 200, or 204 for no result.
func answerStatus(result any, err error) int {
	switch {
	case err != nil:
		return statusOfError(sessions.Coded(err))
	case result == nil:
		return http.StatusNoContent
	}
	return http.StatusOK
}

// statusOf returns the HTTP status of an error category.
func statusOf(category string) int {
	if status, ok := statusByCategory[category]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// typeByCategory names the Pip.Services exception class of each category.
var typeByCategory = map[string]string{
	sessions.CategoryBadRequest:       "BadRequestException",
	sessions.CategoryUnauthorized:     "UnauthorizedException",
	sessions.CategoryNotFound:         "NotFoundException",
	sessions.CategoryConflict:         "ConflictException",
	sessions.CategoryNoResponse:       "ConnectionException",
	sessions.CategoryInternal:         "InternalException",
	sessions.CategoryUnsupported:      "UnsupportedException",
	sessions.CategoryMisconfiguration: "ConfigException",
}

// writeError logs err once and writes it as the Pip.Services error body.
func writeError(w http.ResponseWriter, r *http.Request, log *zap.Logger, debugMode bool, err error) {
	e := sessions.Coded(err) // the cause of an uncoded error stays in the log
	status := statusOfError(e)
	ctx := r.Context()
	body := sessions.ErrorBody{
		Type:          typeByCategory[e.Category],
		Category:      e.Category,
		Status:        status,
		Code:          e.Code,
		Message:       e.Message,
		Details:       e.Details,
		CorrelationID: sessions.CorrelationID(ctx),
	}
	if body.Type == "" {
		body.Type = "UnknownException"
	}
	// Rejections are logged at debug level, usually disabled: the fields
	// are built only for a line that will be written.
	level, msg := zapcore.DebugLevel, "request rejected"
	switch {
	case e == errSessionFull:
		// A client's own doing, as bad input is: it holds its session's
		// every stream, and may ask again as fast as it likes.
	case status == http.StatusServiceUnavailable:
		// Refused for later (a full or stopping instance): expected under
		// load, and retried, so one line each is a warning, not an error.
		level, msg = zapcore.WarnLevel, "request refused for later"
	case status >= 500:
		level, msg = zapcore.ErrorLevel, "request failed"
	}
	if ce := log.Check(level, msg); ce != nil {
		ce.Write(zap.String("correlation_id", body.CorrelationID), zap.String("path", r.URL.Path),
			zap.Int("status", status), zap.String("code", e.Code), zap.Error(err))
	}
	if debugMode {
		if e.Cause != nil {
			body.Cause = e.Cause.Error()
		}
		body.StackTrace = string(debug.Stack())
	}
	// An error answers one request, whichever route or check gave it: no
	// cache keeps it.
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, status, &body)
}

// panicError turns a recovered panic into an internal error.
func panicError(v any) error {
	return fmt.Errorf("panic: %v", v)
}
