// Package client is the Go SDK of the sessions service. Its API interface
// has one method per command of the service, ctx first, with typed
// arguments and results; it is generated from the same command definitions
// that validate requests and describe them in the OpenAPI document, so the
// SDK cannot drift from the service.
//
// Three implementations serve it:
//
//   - NewHTTP calls a running service over HTTP;
//   - NewDirect runs the commands in process on an Executor (the
//     controller), with the same JSON validation as HTTP, for embedding;
//   - NewFake keeps sessions in memory, for the tests of programs that use
//     the SDK.
//
// The correlation id of a call is the one sessions.WithCorrelationID put in
// its context. A failed command returns a *sessions.Error carrying the
// Pip.Services category, code, message, details and correlation id; use
// errors.As to read it. Commands that find nothing return a nil result and
// a nil error.
//
// The HTTP client also reads the service's Server-Sent Events streams as
// typed values. SubscribeEvents follows the session events (opened,
// renewed, updated, closed, expired, evicted, deleted), filtered by user,
// client and type; ListenNotifications is a device's stream of the
// notifications sent to its session, which ends with a *SessionEndedError
// saying why the session ended:
//
//	events, err := api.SubscribeEvents(ctx, client.EventFilter{UserID: "u1"})
//	if err != nil {
//		return err
//	}
//	defer events.Close()
//	for {
//		m, err := events.Next()
//		switch {
//		case err != nil:
//			return err // ctx ended, Close, or the service refused to go on
//		case m.Reset != nil:
//			// events were lost: re-read the sessions you keep
//		default:
//			apply(m.Event)
//		}
//	}
//
// Both return once the service has accepted the stream, and return the
// failure of that first attempt as is. Afterwards a stream reconnects by
// itself when its connection ends (a restart, a cut-off, a network
// failure, an idle link, or a proxy's page that is no event stream): it
// waits the service's retry delay, doubling
// it over failed attempts up to a maximum, with jitter, and an event
// stream resumes with the id of the last event it got, so it misses
// nothing the service still buffers and gives a reset otherwise. The
// client's timeout bounds only the wait for the service to accept a
// stream; a stream lasts until its context ends or Close. See
// WithLastEventID, WithReconnectDelay, WithIdleTimeout, WithoutReconnect and
// WithReconnectHook.
//
// The package imports only the standard library and the sessions package.
//
// commands_gen.go is generated: after changing a command, run go generate
// in this folder (or go generate ./src/client/... from the repository root)
// and commit the result. A test fails while the committed file is stale.
package client

//go:generate go run ./gen
