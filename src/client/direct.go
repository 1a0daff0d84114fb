package client

import (
	"context"
	"errors"
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
// embed the controller. Like HTTP, every failed command returns a
// *sessions.Error: a failure of the executor that is not one (a store
// error, a deadline) is coded as the service would code it, with the
// failure as its Cause. A call whose context is already done is not
// run, and one whose context ends while it runs stops where the executor
// heeds it: as over HTTP, either fails with the context's error wrapped,
// no *sessions.Error. It sends no body, so the endpoint's bound on bodies
// does not apply.
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
	if err := ctx.Err(); err != nil { // as a request the HTTP client could not send
		return zero, fmt.Errorf("call %s/%s: %w", route, name, err)
	}
	payload, err := marshalArgs(args)
	if err != nil {
		return zero, fmt.Errorf("encode arguments of %s/%s: %w", route, name, err)
	}
	res, err := c.x.Execute(ctx, route, name, payload)
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		// Ended by its context, as a call over HTTP would be: the caller's
		// doing, not a failure of the service to code.
		return zero, fmt.Errorf("call %s/%s: %w", route, name, ctxErr)
	}
	if err != nil {
		return zero, coded(ctx, err)
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

// coded returns the error of a call as the HTTP client would: a
// *sessions.Error with the call's correlation id. An error that is not
// coded becomes the one the service sends for it (sessions.Coded: Internal,
// or NoResponse for a deadline), keeping it as the Cause for errors.Is and
// errors.As. A coded error is copied: the executor may share it.
func coded(ctx context.Context, err error) error {
	id := sessions.CorrelationID(ctx)
	e := sessions.AsError(err)
	switch {
	case e == nil: // a new error, ours to fill in
		e = sessions.Coded(err)
		e.CorrelationID = id
		return e
	case e.CorrelationID != "" || id == "":
		return err
	}
	c := *e
	c.CorrelationID = id
	return &c
}
