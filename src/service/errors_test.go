package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

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
