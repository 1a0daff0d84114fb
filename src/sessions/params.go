package sessions

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FilterParams is a filter as it travels on the wire: a map of keys to
// values. Values may arrive as JSON strings, numbers or booleans (the Node
// client sends everything as strings); they are kept as strings.
type FilterParams map[string]string

// In Pip.Services' wording, as the Node service answers.
var (
	errFilterNotObject = errors.New("filter type must be Map")
	errPagingNotObject = errors.New("paging type must be Map")
)

// UnmarshalJSON accepts an object of scalar values; null values are dropped.
// When a key repeats, its last value counts, as it would in a map.
func (p *FilterParams) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, nullJSON) {
		*p = nil
		return nil
	}
	if isNull(b) {
		// Null between spaces decodes as an empty map, as a map would.
		*p = FilterParams{}
		return nil
	}
	out := FilterParams{}
	// bad holds the keys whose last value is an object or an array, each
	// with when it became bad: the earliest is named.
	var bad map[string]int
	n := 0
	ok := WalkObject(b, func(key, value []byte) {
		k := Unquote(key)
		delete(bad, k)
		switch value[0] {
		case '"':
			out[k] = Unquote(value)
		case 'n':
			delete(out, k)
		case '{', '[':
			delete(out, k)
			if bad == nil {
				bad = map[string]int{}
			}
			bad[k], n = n, n+1
		default:
			out[k] = string(value)
		}
	})
	if !ok {
		if problem := TooDeep("filter", b); problem != "" {
			return errors.New(problem)
		}
		return errFilterNotObject
	}
	if len(bad) > 0 {
		first := slices.MinFunc(slices.Collect(maps.Keys(bad)), func(a, b string) int { return bad[a] - bad[b] })
		return fmt.Errorf("filter.%s must be a string, number or boolean", first)
	}
	*p = out
	return nil
}

// Filter reads the wire filter at now; unknown keys are ignored, as Pip
// does. active takes what Pip's boolean converter takes; dates are RFC 3339
// or epoch milliseconds.
func (p FilterParams) Filter(now time.Time) (Filter, error) {
	f := Filter{
		ID: p["id"], UserID: p["user_id"], Client: p["client"], DeviceID: p["device_id"],
		ParentID: p["parent_id"], PushAddress: p["push_address"], Now: now,
	}
	if s := p["active"]; s != "" {
		active, ok := ParseBoolean(s)
		if !ok {
			return f, InvalidData(fmt.Sprintf("filter.active %q must be a boolean", s))
		}
		f.Active = &active
	}
	var err error
	if f.FromTime, err = p.time("from_time"); err != nil {
		return f, err
	}
	if f.ToTime, err = p.time("to_time"); err != nil {
		return f, err
	}
	return f, nil
}

// time reads a date of the filter, as a date field reads it: RFC 3339
// text or epoch milliseconds, which a filter holds as the number's text
// (Node's clients send every filter value as text); absent is the zero
// time.
func (p FilterParams) time(key string) (time.Time, error) {
	if ms, err := strconv.ParseInt(p[key], 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := ParseTime(p[key])
	if err != nil {
		return t, InvalidData(fmt.Sprintf("filter.%s %q must be an RFC 3339 date or epoch milliseconds", key, p[key]))
	}
	return t, nil
}

// ParseBoolean reads a boolean as Pip.Services' converter does, in any
// case: true, t, yes, y and 1 are true; false, f, no, n and 0 false.
func ParseBoolean(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "t", "yes", "y", "1":
		return true, true
	case "false", "f", "no", "n", "0":
		return false, true
	}
	return false, false
}

// PagingParams is a page request as it travels on the wire. Absent or null
// values take the defaults; numbers may arrive as strings.
type PagingParams struct {
	Skip  *int64 `json:"skip"`
	Take  *int64 `json:"take"`
	Total bool   `json:"total"`
}

// NewPagingParams returns a page request of take items after the first
// skip, with the total of every match when total is set: Pip.Services'
// new PagingParams(skip, take, total).
func NewPagingParams(skip, take int64, total bool) *PagingParams {
	return &PagingParams{Skip: &skip, Take: &take, Total: total}
}

// UnmarshalJSON accepts numbers or numeric strings, booleans or "true"/"false".
// Other keys are ignored; when a key repeats, its last value counts.
func (p *PagingParams) UnmarshalJSON(b []byte) error {
	*p = PagingParams{}
	if isNull(b) {
		return nil
	}
	var skip, take, total []byte
	ok := WalkObject(b, func(key, value []byte) {
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
		if problem := TooDeep("paging", b); problem != "" {
			return errors.New(problem)
		}
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
		t, ok := ParseBoolean(s)
		if !ok {
			return fmt.Errorf("paging.total must be a boolean")
		}
		p.Total = t
	}
	return nil
}

// pagingInt reads paging.<name>: nil when absent, null or "".
func pagingInt(name string, v []byte) (*int64, error) {
	s, ok, err := scalarString(v)
	if err == nil && (!ok || s == "") {
		return nil, nil
	}
	if n, isInt := Integral(s); err == nil && isInt {
		return &n, nil
	}
	if n, isNum := rounded(s); err == nil && isNum {
		return &n, nil
	}
	return nil, errors.New(TypeProblem("paging."+name, "long", KindOf(v)))
}

// rounded returns a finite number, written in JSON or as text, rounded
// to the nearest integer, a half up, as the Node service's converter
// rounds paging (JavaScript's Math.round); it is false for anything else,
// or a number beyond int64.
func rounded(number string) (int64, bool) {
	f, err := strconv.ParseFloat(number, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	r := math.Floor(f)
	if f-r >= 0.5 {
		r++
	}
	if r < math.MinInt64 || r >= math.MaxInt64 { // float64(MaxInt64) is 2^63
		return 0, false
	}
	return int64(r), true
}

// KindOf names the type of a JSON value as Pip.Services does: string,
// boolean, map, array, or a number's NumberKind.
func KindOf(v []byte) string {
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "map"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return NumberKind(string(v))
}

// NumberKind names a JSON number as Pip.Services does: an integer within
// int64 (however written) is a long, one with a fraction a double; any
// other is "a number out of range".
func NumberKind(number string) string {
	if _, ok := Integral(number); ok {
		return "long"
	}
	if f, err := strconv.ParseFloat(number, 64); err == nil && f != math.Trunc(f) {
		return "double"
	}
	return "a number out of range"
}

// Integral returns the value of a number, written in JSON or as text, that
// is an integer within int64 however it is written (3, 3.0, 1e3), as
// JSON.parse reads it.
func Integral(number string) (int64, bool) {
	if n, err := strconv.ParseInt(number, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(number, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// scalarString returns a JSON scalar as a string; ok is false for absent or null.
func scalarString(v []byte) (s string, ok bool, err error) {
	if len(v) == 0 || bytes.Equal(v, nullJSON) {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		return Unquote(v), true, nil
	case '{', '[':
		return "", false, fmt.Errorf("not a scalar")
	}
	return string(v), true, nil
}

var nullJSON = []byte("null")

// isNull reports whether b is the JSON null, between spaces or not.
func isNull(b []byte) bool {
	i := skipSpace(b, 0)
	end, ok := literalEnd(b, i, "null")
	return ok && skipSpace(b, end) == len(b)
}

// keyIs reports whether the quoted key decodes to name, an ASCII word.
func keyIs(key []byte, name string) bool {
	body := key[1 : len(key)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		// Without escapes the key is name only byte for byte: bytes of
		// invalid UTF-8 decode to U+FFFD, which no name contains.
		return string(body) == name
	}
	return Unquote(key) == name
}
