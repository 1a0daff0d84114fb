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
// The package imports only the standard library and the sessions package.
//
// commands_gen.go is generated: after changing a command, run go generate
// in this folder (or go generate ./src/client/... from the repository root)
// and commit the result. A test fails while the committed file is stale.
package client

//go:generate go run ./gen
