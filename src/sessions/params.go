package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// FilterParams is a filter as it travels on the wire: a map of keys to
// values. Values may arrive as JSON strings, numbers or booleans (the Node
// client sends everything as strings); they are kept as strings.
type FilterParams map[string]string

var (
	errFilterNotObject = errors.New("filter must be an object")
	errPagingNotObject = errors.New("paging must be an object")
)

// UnmarshalJSON accepts an object of scalar values; null values are dropped.
// When a key repeats, its last value counts, as it would in a map.
func (f *FilterParams) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, nullJSON) {
		*f = nil
		return nil
	}
	if isNull(b) {
		// Null between spaces decodes as an empty map, as a map would.
		*f = FilterParams{}
		return nil
	}
	out := FilterParams{}
	var bad []string // keys whose last value is an object or an array
	ok := walkObject(b, func(key, value []byte) {
		k := unquote(key)
		if len(bad) > 0 {
			if i := indexOf(bad, k); i >= 0 {
				bad = append(bad[:i], bad[i+1:]...)
			}
		}
		switch value[0] {
		case '"':
			out[k] = unquote(value)
		case 'n':
			delete(out, k)
		case '{', '[':
			delete(out, k)
			bad = append(bad, k)
		default:
			out[k] = string(value)
		}
	})
	if !ok {
		return errFilterNotObject
	}
	if len(bad) > 0 {
		return fmt.Errorf("filter.%s must be a string, number or boolean", bad[0])
	}
	*f = out
	return nil
}

// PagingParams is a page request as it travels on the wire. Absent or null
// values take the defaults; numbers may arrive as strings.
type PagingParams struct {
	Skip  *int64 `json:"skip"`
	Take  *int64 `json:"take"`
	Total bool   `json:"total"`
}

// UnmarshalJSON accepts numbers or numeric strings, booleans or "true"/"false".
// Other keys are ignored; when a key repeats, its last value counts.
func (p *PagingParams) UnmarshalJSON(b []byte) error {
	*p = PagingParams{}
	if isNull(b) {
		return nil
	}
	var skip, take, total []byte
	ok := walkObject(b, func(key, value []byte) {
		switch {
		case keyIs(key, "skip"):
			skip = value
		case keyIs(key, "take"):
			take = value
		case keyIs(key, "total"):
			total = value
		}
	})
	if !ok {
		return errPagingNotObject
	}
	var err error
	if p.Skip, err = pagingInt("skip", skip); err != nil {
		return err
	}
	if p.Take, err = pagingInt("take", take); err != nil {
		return err
	}
	if s, ok, err := scalarString(total); err != nil {
		return fmt.Errorf("paging.total must be a boolean")
	} else if ok && s != "" {
		t, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("paging.total must be a boolean")
		}
		p.Total = t
	}
	return nil
}

// pagingInt reads paging.<name>: nil when absent, null or "".
func pagingInt(name string, v []byte) (*int64, error) {
	s, ok, err := scalarString(v)
	if err != nil {
		return nil, fmt.Errorf("paging.%s must be an integer", name)
	}
	if !ok || s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("paging.%s must be an integer", name)
	}
	return &n, nil
}

// scalarString returns a JSON scalar as a string; ok is false for absent or null.
func scalarString(v []byte) (s string, ok bool, err error) {
	if len(v) == 0 || bytes.Equal(v, nullJSON) {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		return unquote(v), true, nil
	case '{', '[':
		return "", false, fmt.Errorf("not a scalar")
	}
	return string(v), true, nil
}

// The parameters are decoded by walking their object by hand rather than
// through a map of raw values: they arrive with every page request. The walk
// accepts exactly what encoding/json accepts, and decodes strings as it does.

var nullJSON = []byte("null")

// isNull reports whether b is the JSON null, between spaces or not.
func isNull(b []byte) bool {
	i := skipSpace(b, 0)
	end, ok := literalEnd(b, i, "null")
	return ok && skipSpace(b, end) == len(b)
}

// walkObject calls member with the key (still quoted) and the raw value of
// each member of the JSON object b, in order, and reports whether b is one
// well-formed JSON object with nothing but spaces around it. Values are
// not copied; when it reports false, whatever member saw is to be dropped.
func walkObject(b []byte, member func(key, value []byte)) bool {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	checked := false // whether b has been validated whole, for nested values
	for {
		keyEnd, ok := stringEnd(b, i)
		if !ok {
			return false
		}
		key := b[i:keyEnd]
		i = skipSpace(b, keyEnd)
		if i == len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i == len(b) {
			return false
		}
		var end int
		switch b[i] {
		case '"':
			end, ok = stringEnd(b, i)
		case '{', '[':
			// Rare, and an error for filters: validate everything once
			// with encoding/json, then skip the value.
			if !checked {
				if !json.Valid(b) {
					return false
				}
				checked = true
			}
			end, ok = compositeEnd(b, i), true
		case 't':
			end, ok = literalEnd(b, i, "true")
		case 'f':
			end, ok = literalEnd(b, i, "false")
		case 'n':
			end, ok = literalEnd(b, i, "null")
		default:
			end, ok = numberEnd(b, i)
		}
		if !ok {
			return false
		}
		member(key, b[i:end])
		i = skipSpace(b, end)
		if i == len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
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

// compositeEnd returns the index after the object or array that starts at
// i in b, which is known to be valid JSON.
func compositeEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, _ := stringEnd(b, i)
			i = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// unquote returns the JSON string q, a well-formed one, decoded as
// encoding/json decodes it: a copy, escapes resolved, invalid UTF-8
// replaced by U+FFFD.
func unquote(q []byte) string {
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

// keyIs reports whether the quoted key decodes to name, an ASCII word.
func keyIs(key []byte, name string) bool {
	body := key[1 : len(key)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		// Without escapes the key is name only byte for byte: bytes of
		// invalid UTF-8 decode to U+FFFD, which no name contains.
		return string(body) == name
	}
	return unquote(key) == name
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
