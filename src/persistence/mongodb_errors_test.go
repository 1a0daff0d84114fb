package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A database that cannot serve now is unavailable (NoResponse); one that refuses
// the command is not.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"shutting down", mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}, true},
		{"interrupted at shutdown", fmt.Errorf("find: %w", mongo.CommandError{Code: 11600}), true},
		{"not primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"stepped down during a write", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 189}}, true},
		{"no member to read from", mongo.CommandError{Code: 133, Name: "FailedToSatisfyReadPreference"}, true},
		{"majority not available yet", mongo.CommandError{Code: 134}, true},
		{"time limit exceeded between servers", mongo.CommandError{Code: 262, Name: "ExceededTimeLimit"}, true},
		{"overloaded", mongo.CommandError{Code: 462, Labels: []string{"SystemOverloadedError", "RetryableError"}}, true},
		{"labelled retryable", mongo.WriteException{Labels: []string{"RetryableWriteError"}}, true},
		{"timed out", context.DeadlineExceeded, true},
		{"disconnected", mongo.ErrClientDisconnected, true},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, false},
		{"bad query", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("%s: unreachable(%v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// A server without change streams for the service is polled from then on;
// one that fails to open a stream for now is asked again.
func TestNoChangeStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"standalone", mongo.CommandError{Code: 40573}, true},
		{"compatible server without the stage", mongo.CommandError{Code: 238, Name: "NotImplemented"}, true},
		{"older server", mongo.CommandError{Code: 40324}, true},
		{"not allowed", mongo.CommandError{Code: 13, Name: "Unauthorized"}, true},
		{"stepping down", mongo.CommandError{Code: 189}, false},
		{"overloaded", mongo.CommandError{Code: 462, Labels: []string{"SystemOverloadedError"}}, false},
		{"timed out", context.DeadlineExceeded, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := noChangeStreams(tc.err); got != tc.want {
			t.Errorf("%s: noChangeStreams(%v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// A change stream the server closed (its collection dropped) ends with no
// error: the reason logged says so, and asking it does not panic.
func TestStreamEnd(t *testing.T) {
	m := NewMongoDB()
	if got := m.streamEnd(nil); !strings.Contains(got, "closed by the server") {
		t.Errorf("streamEnd(nil) = %q; want it closed by the server", got)
	}
	if got := m.streamEnd(errors.New("boom")); got != "boom" {
		t.Errorf("streamEnd(boom) = %q; want boom", got)
	}
}
