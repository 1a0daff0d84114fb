package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// failingExecutor answers every command with err, as the controller does
// when its store fails: with a coded error, or with an error that is not
// one (MongoDB errors other than "unreachable" come back wrapped by
// fmt.Errorf).
type failingExecutor struct{ err error }

func (x failingExecutor) Execute(context.Context, string, string, []byte) (any, error) {
	return nil, x.err
}

// TestDirectErrorsAreCodedAsOverHTTP: over HTTP the service turns any
// failure into a *sessions.Error (Internal/INTERNAL, or NoResponse for a
// deadline) with the correlation id; Direct returns the same, and keeps the
// failure as the cause for embedders.
func TestDirectErrorsAreCodedAsOverHTTP(t *testing.T) {
	writeConcern := errors.New("WriteConcernError")
	notFound := sessions.NotFound(sessions.CodeSessionNotFound, "session s1 is not found")
	for _, tc := range []struct {
		name          string
		err           error
		wantCategory  string
		wantCode      string
		wantWraps     error
		wantUnchanged *sessions.Error // a shared coded error the call must not modify
	}{
		{"store failure", fmt.Errorf("mongodb update session: %w", writeConcern),
			sessions.CategoryInternal, sessions.CodeInternal, writeConcern, nil},
		{"deadline", fmt.Errorf("mongodb find session: %w", context.DeadlineExceeded),
			sessions.CategoryNoResponse, sessions.CodeStoreUnavailable, context.DeadlineExceeded, nil},
		{"canceled", fmt.Errorf("mongodb find session: %w", context.Canceled),
			sessions.CategoryInternal, sessions.CodeInternal, context.Canceled, nil},
		{"coded", notFound, sessions.CategoryNotFound, sessions.CodeSessionNotFound, notFound, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := client.NewDirect(failingExecutor{err: tc.err})
			ctx := sessions.WithCorrelationID(context.Background(), "corr-1")
			_, err := api.CloseUserSessions(ctx, "u1")
			var e *sessions.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v; want a *sessions.Error (category %s, correlation corr-1) as over HTTP", err, err, tc.wantCategory)
			}
			if e.Category != tc.wantCategory || e.Code != tc.wantCode || e.CorrelationID != "corr-1" {
				t.Errorf("got category %q, code %q, correlation %q; want %q, %q, corr-1",
					e.Category, e.Code, e.CorrelationID, tc.wantCategory, tc.wantCode)
			}
			if !errors.Is(err, tc.wantWraps) {
				t.Errorf("got %v; want it to wrap %v", err, tc.wantWraps)
			}
			if tc.wantUnchanged != nil && tc.wantUnchanged.CorrelationID != "" {
				t.Errorf("executor's error: got correlation %q; want it left unset", tc.wantUnchanged.CorrelationID)
			}
		})
	}
}
