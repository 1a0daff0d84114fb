package client

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// argKind is what the service checks of an argument beyond its presence.
type argKind int

const (
	otherArg   argKind = iota // presence only
	textArg                   // a string of at most max characters
	payloadArg                // any JSON value, nested at most sessions.MaxJSONDepth deep
	entriesArg                // a map of strings: at most sessions.MaxMapEntries entries of max characters
)

// argRule is how the service checks one argument of a command. The
// generated check functions hold the rules of every command, taken from
// the command definitions; the fake applies them, so that a test against
// it is refused what the service would refuse.
type argRule struct {
	name     string
	required bool
	kind     argKind
	max      int
}

// checkArgs applies rules to a request as it would travel, and returns
// the service's validation error for the problems found, in the order of
// the arguments, or nil.
func checkArgs(ctx context.Context, req any, rules []argRule) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode the arguments: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("encode the arguments: %w", err)
	}
	var problems []string
	for _, r := range rules {
		if p := r.check(fields[r.name]); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return coded(ctx, sessions.InvalidData(problems...))
}

// check returns the problem with one argument's JSON value (nil when
// absent), or "".
func (r argRule) check(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		if r.required {
			return r.name + " must not be null"
		}
		return ""
	}
	switch r.kind {
	case textArg:
		var s string
		if json.Unmarshal(raw, &s) == nil && utf8.RuneCountInString(s) > r.max {
			return fmt.Sprintf("%s must not be longer than %d characters", r.name, r.max)
		}
	case payloadArg:
		if sessions.JSONDepth(raw) > sessions.MaxJSONDepth {
			return fmt.Sprintf("%s must not nest deeper than %d levels", r.name, sessions.MaxJSONDepth)
		}
	case entriesArg:
		var m map[string]string
		if json.Unmarshal(raw, &m) != nil {
			return ""
		}
		if len(m) > sessions.MaxMapEntries {
			return fmt.Sprintf("%s must not have more than %d entries", r.name, sessions.MaxMapEntries)
		}
		for k, v := range m {
			if utf8.RuneCountInString(k) > r.max || utf8.RuneCountInString(v) > r.max {
				return fmt.Sprintf("%s entries must not be longer than %d characters", r.name, r.max)
			}
		}
	}
	return ""
}
