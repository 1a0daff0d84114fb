package client

import (
	"context"
	"fmt"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Executor runs a command of a route with JSON arguments and returns its
// result, nil when there is none. The service's controller implements it.
type Executor interface {
	Execute(ctx context.Context, route, name string, args []byte) (any, error)
}

// Direct is the API in process: it marshals the arguments to JSON, as HTTP
// would, so an Executor validates them exactly as the service does, and
// hands back the results without encoding them. It suits programs that
// embed the controller.
type Direct struct {
	x Executor
}

// NewDirect returns a client that runs every command on x.
func NewDirect(x Executor) *Direct {
	return &Direct{x: x}
}

// directCall runs one command and type-asserts its result; no result is the
// zero R.
func directCall[R any](ctx context.Context, c *Direct, route, name string, args any) (R, error) {
	var zero R
	payload, err := marshalArgs(args)
	if err != nil {
		return zero, fmt.Errorf("encode arguments of %s/%s: %w", route, name, err)
	}
	res, err := c.x.Execute(ctx, route, name, payload)
	if err != nil {
		return zero, withCorrelation(ctx, err)
	}
	if res == nil {
		return zero, nil
	}
	if _, ok := any(zero).(none); ok {
		return zero, nil
	}
	out, ok := res.(R)
	if !ok {
		return zero, fmt.Errorf("%s/%s returned a %T; want %T", route, name, res, zero)
	}
	return out, nil
}

// withCorrelation gives a coded error the correlation id of the call, as
// the HTTP client's errors carry it. The error is copied: the executor may
// share it.
func withCorrelation(ctx context.Context, err error) error {
	e := sessions.AsError(err)
	id := sessions.CorrelationID(ctx)
	if e == nil || e.CorrelationID != "" || id == "" {
		return err
	}
	c := *e
	c.CorrelationID = id
	return &c
}
