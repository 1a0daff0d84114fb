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
