package service

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// SPEC §1.3: "Category → status: BadRequest 400, Unauthorized 401, NotFound
// 404, Conflict 409, everything else 500".
func TestTheStatusOfAnErrorIsThatOfItsCategory(t *testing.T) {
	for _, tc := range []struct {
		err      error
		status   int
		category string
	}{
		{sessions.InvalidData("user_id must not be null"), 400, sessions.CategoryBadRequest},
		{&sessions.Error{Category: sessions.CategoryUnauthorized, Code: "UNAUTHORIZED"}, 401, sessions.CategoryUnauthorized},
		{sessions.NotFound(sessions.CodeSessionNotFound, "no session"), 404, sessions.CategoryNotFound},
		{&sessions.Error{Category: sessions.CategoryConflict, Code: "CONFLICT"}, 409, sessions.CategoryConflict},
		{sessions.Unavailable(errors.New("no server")), 500, sessions.CategoryNoResponse},
		{fmt.Errorf("find: %w", context.DeadlineExceeded), 500, sessions.CategoryNoResponse},
		{errors.New("anything else"), 500, sessions.CategoryInternal},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/sessions/get_sessions", nil)
		writeError(w, r, zap.NewNop(), false, tc.err)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), `"category":"`+tc.category+`"`) {
			t.Errorf("%v: got %d %s; want %d with category %s", tc.err, w.Code, w.Body, tc.status, tc.category)
		}
	}
}

// A failure is logged as an error; a refusal for later (503: a full or
// stopping instance, which clients retry) as a warning; a rejection of bad
// input, or of one more stream of a session that holds as many as it may,
// at debug level.
func TestErrorsAreLoggedAtTheLevelOfWhatWentWrong(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want zapcore.Level
	}{
		{errors.New("anything else"), zapcore.ErrorLevel},
		{sessions.Unavailable(errors.New("no server")), zapcore.ErrorLevel},
		{errFull, zapcore.WarnLevel},
		{errSessionFull, zapcore.DebugLevel}, // the client holds its session's every stream
		{errStopping, zapcore.WarnLevel},
		{sessions.InvalidData("user_id must not be null"), zapcore.DebugLevel},
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		r := httptest.NewRequest(http.MethodGet, "/v1/sessions/events", nil)
		writeError(httptest.NewRecorder(), r, zap.New(core), false, tc.err)
		if entries := logs.All(); len(entries) != 1 || entries[0].Level != tc.want {
			t.Errorf("%v: got %v; want one line at %v", tc.err, entries, tc.want)
		}
	}
}

// What net/http reports outside a handler: a client's failed TLS
// handshake at debug, as other refused input; anything else at warn.
func TestServerLogLevels(t *testing.T) {
	for _, tc := range []struct {
		line string
		want zapcore.Level
	}{
		{"http: TLS handshake error from 127.0.0.1:50312: client sent an HTTP request to an HTTPS server\n", zapcore.DebugLevel},
		{"http: Accept error: accept tcp [::]:8080: accept4: too many open files; retrying in 5ms\n", zapcore.WarnLevel},
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		log.New(serverLog{zap.New(core)}, "", 0).Print(tc.line)
		if entries := logs.All(); len(entries) != 1 || entries[0].Level != tc.want || entries[0].Message != strings.TrimSpace(tc.line) {
			t.Errorf("%q: got %v; want it once at %v", tc.line, entries, tc.want)
		}
	}
}

// A body that could not be read is answered without the connection's
// addresses, which stay in the log with the cause.
func TestABodyThatCannotBeReadSaysWhyWithoutTheConnection(t *testing.T) {
	late := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded,
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}}
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{late, http.StatusBadRequest, "the request body did not arrive within the endpoint's read timeout"},
		{errors.New("invalid byte in chunk length"), http.StatusBadRequest, "cannot read the request body"},
		{&http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge, "request body is larger than 10 bytes"},
	} {
		e := sessions.AsError(readError(tc.err))
		if e == nil || e.Message != tc.want || statusOfError(e) != tc.status || strings.Contains(e.Message, "127.0.0.1") {
			t.Errorf("%v: got %+v; want %q", tc.err, e, tc.want)
		}
		if tc.status == http.StatusBadRequest && !errors.Is(e, tc.err) {
			t.Errorf("%v: the cause is not kept for the log", tc.err)
		}
	}
}
