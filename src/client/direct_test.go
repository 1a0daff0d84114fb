package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// waitingExecutor runs until its call's context ends and fails with the
// context's error, wrapped, as a store does whose call was cut off.
type waitingExecutor struct{}

func (waitingExecutor) Execute(ctx context.Context, _, _ string, _ []byte) (any, error) {
	<-ctx.Done()
	return nil, sessions.Unavailable(fmt.Errorf("mongodb find session: %w", ctx.Err()))
}

// A call whose context ends while it runs fails with the context's error,
// as over HTTP, where the caller gives up before any answer: its own
// doing, not a failure of the service.
func TestADirectCallEndedByItsContextFailsWithTheContextsError(t *testing.T) {
	api := client.NewDirect(waitingExecutor{})
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(10*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"past its deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := api.CloseUserSessions(ctx, "u1")
			if e := sessions.AsError(err); e != nil || !errors.Is(err, tc.want) {
				t.Errorf("got %v (coded %v); want %v, not a *sessions.Error", err, e, tc.want)
			}
		})
	}
}
