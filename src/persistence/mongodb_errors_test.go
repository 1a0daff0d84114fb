package persistence

import (
	"context"
	"errors"
	"fmt"
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
