package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Objects that arrive with every request (command arguments, filters,
// paging) are read by walking them by hand rather than through
// encoding/json's reflection. The walk accepts exactly what encoding/json
// accepts, nested at most MaxBodyDepth deep, and Unquote decodes strings
// as it does. A deeper object is refused as hostile: the walk reports it
// malformed, and TooDeep tells its caller why.

// WalkObject calls member with the key (still quoted) and the raw value of
// each member of the JSON object b, in order, and reports whether b is one
// well-formed JSON object, nested at most MaxBodyDepth deep, with nothing
// but spaces around it. Values are not copied; when it reports false,
// whatever member saw is to be dropped.
func WalkObject(b []byte, member func(key, value []byte)) bool {
	end, ok := objectEnd(b, skipSpace(b, 0), 1, member)
	return ok && skipSpace(b, end) == len(b)
}

// Unquote returns the JSON string q, a well-formed one such as a key or a
// value WalkObject passed, decoded as encoding/json decodes it: a copy,
// escapes resolved, invalid UTF-8 replaced by U+FFFD.
func Unquote(q []byte) string {
	body := q[1 : len(q)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		// Not reached: the walk let only well-formed strings through.
		return string(body)
	}
	return s
}

// objectEnd returns the index after the object that starts at i, at the
// given nesting depth, and whether it is well formed; member, when not nil,
// sees each of its members.
func objectEnd(b []byte, i, depth int, member func(key, value []byte)) (int, bool) {
	if i == len(b) || b[i] != '{' || depth > MaxBodyDepth {
		return 0, false
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		keyEnd, ok := stringEnd(b, i)
		if !ok {
			return 0, false
		}
		key := b[i:keyEnd]
		if i = skipSpace(b, keyEnd); i == len(b) || b[i] != ':' {
			return 0, false
		}
		i = skipSpace(b, i+1)
		end, ok := valueEnd(b, i, depth)
		if !ok {
			return 0, false
		}
		if member != nil {
			member(key, b[i:end])
		}
		var closed bool
		if i, closed, ok = separator(b, end, '}'); !ok || closed {
			return i, ok
		}
	}
}

// arrayEnd returns the index after the array that starts at i, at the
// given nesting depth, and whether it is well formed.
func arrayEnd(b []byte, i, depth int) (int, bool) {
	if depth > MaxBodyDepth {
		return 0, false
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := valueEnd(b, i, depth)
		if !ok {
			return 0, false
		}
		var closed bool
		if i, closed, ok = separator(b, end, ']'); !ok || closed {
			return i, ok
		}
	}
}

// separator reads what follows a member or element that ends at end: a
// comma and the start of the next one (closed false), or the closing
// byte (closed true, i after it).
func separator(b []byte, end int, closing byte) (i int, closed, ok bool) {
	switch i = skipSpace(b, end); {
	case i == len(b):
		return 0, false, false
	case b[i] == ',':
		return skipSpace(b, i+1), false, true
	case b[i] == closing:
		return i + 1, true, true
	}
	return 0, false, false
}

// valueEnd returns the index after the JSON value that starts at i inside
// a value of the given depth, and whether it is well formed.
func valueEnd(b []byte, i, depth int) (int, bool) {
	if i == len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{':
		return objectEnd(b, i, depth+1, nil)
	case '[':
		return arrayEnd(b, i, depth+1)
	case 't':
		return literalEnd(b, i, "true")
	case 'f':
		return literalEnd(b, i, "false")
	case 'n':
		return literalEnd(b, i, "null")
	}
	return numberEnd(b, i)
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at i.
func stringEnd(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i == len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// numberEnd returns the index after the JSON number that starts at i.
func numberEnd(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i == len(b):
		return 0, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i == len(b) || !isDigit(b[i]) {
			return 0, false
		}
		i = digitsEnd(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || !isDigit(b[i]) {
			return 0, false
		}
		i = digitsEnd(b, i)
	}
	return i, true
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// literalEnd returns the index after lit when b holds it at i.
func literalEnd(b []byte, i int, lit string) (int, bool) {
	if i > len(b) || string(b[i:min(i+len(lit), len(b))]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Limits on argument values, which the service and the SDK's fake check:
// anything larger is a validation failure.
const (
	// MaxMapEntries bounds a map argument such as details.
	MaxMapEntries = 100
	// MaxMapBytes bounds a map argument's JSON text, and a session's
	// details after a merge: every page, event and answer that carries
	// details stays small, whatever characters fill them (a control
	// character takes 6 bytes of JSON).
	MaxMapBytes = 16 << 10
	// MaxJSONDepth bounds how deeply a JSON argument (user, data, params)
	// nests arrays and objects.
	MaxJSONDepth = 32
	// MaxBodyDepth bounds how deeply a whole request body nests, under any
	// key, known or not: room for an argument of MaxJSONDepth levels, and
	// far below encoding/json's own limit of 10 000.
	MaxBodyDepth = 64
)

// TooDeep returns the problem of JSON text that is well formed but nests
// deeper than MaxBodyDepth, naming it what, or "".
func TooDeep(what string, raw []byte) string {
	if JSONDepth(raw) > MaxBodyDepth && json.Valid(raw) {
		return fmt.Sprintf("%s must not nest deeper than %d levels", what, MaxBodyDepth)
	}
	return ""
}

// CutText returns s cut to at most max bytes, at a character's start.
func CutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// NullProblem is the problem of a required argument that is absent, null
// or empty, in Pip.Services' wording.
func NullProblem(name string) string { return name + " must not be null" }

// TypeProblem is the problem of a value of type found given for an
// argument of type want, each named as Pip.Services names them (string,
// long, map…; see KindOf), in Pip's wording.
func TypeProblem(name, want, found string) string {
	return name + " type must be " + want + " but found " + found
}

// TextProblem returns the problem of a string argument longer than max
// characters, as JSON Schema's maxLength counts them, or "".
func TextProblem(name, s string, max int) string {
	if longer(s, max) {
		return fmt.Sprintf("%s must not be longer than %d characters", name, max)
	}
	return ""
}

// PayloadProblem returns the problem of a JSON argument nested deeper than
// MaxJSONDepth, or "".
func PayloadProblem(name string, raw []byte) string {
	if JSONDepth(raw) > MaxJSONDepth {
		return fmt.Sprintf("%s must not nest deeper than %d levels", name, MaxJSONDepth)
	}
	return ""
}

// EntriesProblem returns the problem of a map argument with more than
// MaxMapEntries entries, a key or value longer than max characters, or
// JSON text of more than MaxMapBytes, or "".
func EntriesProblem(name string, m map[string]string, max int) string {
	if len(m) > MaxMapEntries {
		return fmt.Sprintf("%s must not have more than %d entries", name, MaxMapEntries)
	}
	for k, v := range m {
		if longer(k, max) || longer(v, max) {
			return fmt.Sprintf("%s entries must not be longer than %d characters", name, max)
		}
	}
	return mapBytesProblem(name, m)
}

// mapBytesProblem returns the problem of a map whose JSON text takes more
// than MaxMapBytes, or "".
func mapBytesProblem(name string, m map[string]string) string {
	if n := mapBytes(m); n > MaxMapBytes {
		return fmt.Sprintf("%s must not take more than %d bytes as JSON (%d)", name, MaxMapBytes, n)
	}
	return ""
}

// mapBytes returns the length of a map's JSON text, 0 for an empty map,
// or, when that cannot pass MaxMapBytes, a bound of it: a character takes
// at most 6 bytes of JSON. So a small map, every filter and nearly all
// details, is measured without being encoded.
func mapBytes(m map[string]string) int {
	if len(m) == 0 {
		return 0
	}
	most := 1 // {
	for k, v := range m {
		most += 6*(len(k)+len(v)) + 6 // "k":"v",
	}
	if most <= MaxMapBytes {
		return most
	}
	return len(AppendStringMap(nil, m))
}

// longer reports whether s has more than max characters (a string of at
// most max bytes never has).
func longer(s string, max int) bool {
	return len(s) > max && utf8.RuneCountInString(s) > max
}

// JSONDepth returns how deeply a JSON value nests arrays and objects.
func JSONDepth(raw []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
