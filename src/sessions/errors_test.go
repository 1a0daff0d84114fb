package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

type otherKey struct{}

func TestCorrelationIDTravelsInTheContext(t *testing.T) {
	base := context.WithValue(context.Background(), otherKey{}, "other")
	if got := sessions.CorrelationID(base); got != "" {
		t.Errorf("no id: got %q; want none", got)
	}
	ctx := sessions.WithCorrelationID(base, "c-1")
	derived, cancel := context.WithCancel(ctx)
	defer cancel()
	inner := sessions.WithCorrelationID(derived, "c-2")
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{{ctx, "c-1"}, {derived, "c-1"}, {inner, "c-2"}} {
		if got := sessions.CorrelationID(tc.ctx); got != tc.want {
			t.Errorf("got %q; want %q", got, tc.want)
		}
		if got := tc.ctx.Value(otherKey{}); got != "other" {
			t.Errorf("other value: got %v; want other", got)
		}
	}
	cancel()
	if err := inner.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled parent: got %v; want context.Canceled", err)
	}
}

func TestAsErrorFindsTheCodedError(t *testing.T) {
	e := sessions.NotFound(sessions.CodeNotFound, "x")
	for _, tc := range []struct {
		err  error
		want *sessions.Error
	}{{nil, nil}, {errors.New("plain"), nil}, {e, e}, {fmt.Errorf("wrapped: %w", e), e}} {
		if got := sessions.AsError(tc.err); got != tc.want {
			t.Errorf("%v: got %v; want %v", tc.err, got, tc.want)
		}
	}
}

func TestCodedGivesEveryErrorACategoryAndCode(t *testing.T) {
	notFound := sessions.NotFound(sessions.CodeSessionNotFound, "x")
	store := errors.New("WriteConcernError")
	deadline := fmt.Errorf("mongodb find session: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		name         string
		err          error
		wantCategory string
		wantCode     string
		wantWraps    error // what errors.Is still finds in the coded error
	}{
		{"coded", notFound, sessions.CategoryNotFound, sessions.CodeSessionNotFound, notFound},
		{"wrapped coded", fmt.Errorf("get: %w", notFound), sessions.CategoryNotFound, sessions.CodeSessionNotFound, notFound},
		{"plain", fmt.Errorf("mongodb update session: %w", store), sessions.CategoryInternal, sessions.CodeInternal, store},
		{"deadline", deadline, sessions.CategoryNoResponse, sessions.CodeStoreUnavailable, context.DeadlineExceeded},
		{"canceled", context.Canceled, sessions.CategoryInternal, sessions.CodeInternal, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sessions.Coded(tc.err)
			if got == nil || got.Category != tc.wantCategory || got.Code != tc.wantCode {
				t.Fatalf("got %#v; want category %s, code %s", got, tc.wantCategory, tc.wantCode)
			}
			if !errors.Is(got, tc.wantWraps) {
				t.Errorf("got %v; want it to wrap %v", got, tc.wantWraps)
			}
		})
	}
	if got := sessions.Coded(nil); got != nil {
		t.Errorf("nil: got %v; want nil", got)
	}
	if got := sessions.Coded(notFound); got != notFound {
		t.Errorf("coded: got %p; want the error itself, %p", got, notFound)
	}
}
