package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

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

// oneOfRule is a command's need of one of several arguments, none of them
// required alone: without any, the service reports noneGiven in the place
// of the first.
type oneOfRule struct {
	names     []string
	noneGiven string
}

// checkArgs applies rules, and the needs of one of several arguments, to a
// request as it would travel, and returns the service's validation error
// for the problems found, in the order of the arguments, or nil. A request
// larger than the service takes by default, or nested deeper than it reads
// a body, is refused first, as the service refuses its body. A context
// already done fails the call before all, with its error, as a request the
// HTTP client could not send.
func checkArgs(ctx context.Context, req any, rules []argRule, needs ...oneOfRule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode the arguments: %w", err)
	}
	if len(body) > sessions.DefaultMaxBodySize {
		return coded(ctx, sessions.BodyTooLarge(sessions.DefaultMaxBodySize))
	}
	if problem := sessions.TooDeep("request body", body); problem != "" {
		return coded(ctx, sessions.InvalidData(problem)) // the whole body first, as the service reads it
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("encode the arguments: %w", err)
	}
	var problems []string
	for _, r := range rules {
		for _, need := range needs {
			if need.names[0] == r.name && !slices.ContainsFunc(need.names, func(name string) bool { return given(fields[name]) }) {
				problems = append(problems, need.noneGiven)
			}
		}
		if p := r.check(fields[r.name]); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return coded(ctx, sessions.InvalidData(problems...))
}

// given reports whether an argument's JSON value (nil when absent) gives
// it: not null, and not an empty string, which the service takes for no id.
func given(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null" && string(raw) != `""`
}

// check returns the problem with one argument's JSON value (nil when
// absent), or "", with the service's own checks.
func (r argRule) check(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		if r.required {
			return sessions.NullProblem(r.name)
		}
		return ""
	}
	switch r.kind {
	case textArg:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return sessions.TextProblem(r.name, s, r.max)
		}
	case payloadArg:
		return sessions.PayloadProblem(r.name, raw)
	case entriesArg:
		var m map[string]string
		if json.Unmarshal(raw, &m) == nil {
			return sessions.EntriesProblem(r.name, m, r.max)
		}
	}
	return ""
}
