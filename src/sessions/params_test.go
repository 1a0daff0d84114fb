package sessions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestFilterParamsDecoding(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sessions.FilterParams
		err  string
	}{
		{in: `null`, want: nil},
		{in: ` null `, want: sessions.FilterParams{}},
		{in: `{}`, want: sessions.FilterParams{}},
		{in: " {\n} ", want: sessions.FilterParams{}},
		{in: `{"user_id":"u1","active":"true"}`, want: sessions.FilterParams{"user_id": "u1", "active": "true"}},
		{in: `{"active":true,"n":-1.50e+3,"z":0,"f":false}`, want: sessions.FilterParams{"active": "true", "n": "-1.50e+3", "z": "0", "f": "false"}},
		{in: `{"user_id":null,"client":"c"}`, want: sessions.FilterParams{"client": "c"}},
		{in: `{"a":"1","a":"2"}`, want: sessions.FilterParams{"a": "2"}},
		{in: `{"a":"1","a":null}`, want: sessions.FilterParams{}},
		{in: `{"a":{"x":1},"a":"ok"}`, want: sessions.FilterParams{"a": "ok"}},
		{in: `{"user\u005fid":"tab\there \"q\" \u00e9 \ud83d\ude00 \/"}`, want: sessions.FilterParams{"user_id": "tab\there \"q\" é 😀 /"}},
		{in: "{\"bad\":\"\xff\",\"ok\":\"é\"}", want: sessions.FilterParams{"bad": "\ufffd", "ok": "é"}},
		{in: `{"":""}`, want: sessions.FilterParams{"": ""}},
		{in: `{"a":[1]}`, err: "filter.a must be a string, number or boolean"},
		{in: `{"a":"ok","b":{}}`, err: "filter.b must be a string, number or boolean"},
		{in: `{"a":"ok","a":{}}`, err: "filter.a must be a string, number or boolean"},
		{in: `{"a":{},"b":[}`, err: "filter type must be Map"},
		{in: `[]`, err: "filter type must be Map"},
		{in: `"user_id"`, err: "filter type must be Map"},
		{in: `12`, err: "filter type must be Map"},
		{in: `{"a":1,}`, err: "filter type must be Map"},
		{in: `{"a":01}`, err: "filter type must be Map"},
		{in: `{"a":1.}`, err: "filter type must be Map"},
		{in: `{"a":tru}`, err: "filter type must be Map"},
		{in: `{"a":truex}`, err: "filter type must be Map"},
		{in: `{"a":"x"} x`, err: "filter type must be Map"},
		{in: `{"a":"\x"}`, err: "filter type must be Map"},
		{in: `{"a":"\u12"}`, err: "filter type must be Map"},
		{in: "{\"a\":\"\t\"}", err: "filter type must be Map"},
		{in: `{a:1}`, err: "filter type must be Map"},
		{in: `{"a" 1}`, err: "filter type must be Map"},
		{in: `{`, err: "filter type must be Map"},
		{in: ``, err: "filter type must be Map"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := sessions.FilterParams{"stale": "x"}
			err := got.UnmarshalJSON([]byte(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error: got %v; want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v; want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v; want %#v", got, tc.want)
			}
		})
	}
}

func TestPagingParamsDecoding(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		in   string
		want sessions.PagingParams
		err  string
	}{
		{in: `null`},
		{in: ` null`},
		{in: `{}`},
		{in: `{"skip":5,"take":"10","total":true}`, want: sessions.PagingParams{Skip: n(5), Take: n(10), Total: true}},
		{in: `{"skip":"+5","take":-3,"total":"1"}`, want: sessions.PagingParams{Skip: n(5), Take: n(-3), Total: true}},
		{in: `{"skip":null,"take":"","total":""}`},
		{in: `{"total":0,"other":{"deep":[1,2,{"x":"}"}]}}`},
		{in: `{"skip":1,"skip":2}`, want: sessions.PagingParams{Skip: n(2)}},
		{in: `{"skip":"x","skip":2}`, want: sessions.PagingParams{Skip: n(2)}},
		{in: `{"sk\u0069p":7}`, want: sessions.PagingParams{Skip: n(7)}},
		{in: `{"Skip":7,"skip ":8}`},
		// A fraction is rounded, a half up, as the Node service rounds it.
		{in: `{"skip":1.5,"take":"2.49"}`, want: sessions.PagingParams{Skip: n(2), Take: n(2)}},
		{in: `{"skip":-2.5,"take":0.49999999999999994}`, want: sessions.PagingParams{Skip: n(-2), Take: n(0)}},
		{in: `{"skip":1e2,"take":"2.0"}`, want: sessions.PagingParams{Skip: n(100), Take: n(2)}},
		{in: `{"skip":-0.0}`, want: sessions.PagingParams{Skip: n(0)}},
		{in: `{"take":"Infinity"}`, err: "paging.take type must be long but found string"},
		{in: `{"take":"NaN"}`, err: "paging.take type must be long but found string"},
		{in: `{"take":1e19}`, err: "paging.take type must be long but found a number out of range"},
		{in: `{"take":"many"}`, err: "paging.take type must be long but found string"},
		{in: `{"take":true}`, err: "paging.take type must be long but found boolean"},
		{in: `{"take":[1]}`, err: "paging.take type must be long but found array"},
		{in: `{"take":99999999999999999999}`, err: "paging.take type must be long but found a number out of range"},
		{in: `{"total":"maybe"}`, err: "paging.total must be a boolean"},
		{in: `{"total":2}`, err: "paging.total must be a boolean"},
		{in: `{"total":{}}`, err: "paging.total must be a boolean"},
		{in: `[]`, err: "paging type must be Map"},
		{in: `{"skip":1,}`, err: "paging type must be Map"},
		{in: `{"other":[}`, err: "paging type must be Map"},
		{in: `{"skip":-}`, err: "paging type must be Map"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := sessions.PagingParams{Skip: n(99), Total: true}
			err := got.UnmarshalJSON([]byte(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error: got %v; want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v; want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %s; want %s", pagingString(got), pagingString(tc.want))
			}
		})
	}
}

func TestParamsAsArguments(t *testing.T) {
	var args struct {
		Filter sessions.FilterParams  `json:"filter"`
		Paging *sessions.PagingParams `json:"paging"`
	}
	body := []byte(`{"filter": {"user_id": "u1"}, "paging": {"take": "2"}}`)
	if err := json.Unmarshal(body, &args); err != nil {
		t.Fatal(err)
	}
	copy(body, bytes.Repeat([]byte{'#'}, len(body))) // the decoded values must not share the body
	if args.Filter["user_id"] != "u1" || args.Paging == nil || args.Paging.Take == nil || *args.Paging.Take != 2 {
		t.Errorf("got %v, %v; want user_id u1 and take 2", args.Filter, args.Paging)
	}
	args.Filter = sessions.FilterParams{"stale": "x"}
	if err := json.Unmarshal([]byte(`{"filter":null,"paging":null}`), &args); err != nil {
		t.Fatal(err)
	}
	if args.Filter != nil || args.Paging != nil {
		t.Errorf("null arguments: got %v, %v; want nil, nil", args.Filter, args.Paging)
	}
}

func TestWalkObjectRefusesNestingBeyondMaxBodyDepth(t *testing.T) {
	for _, tc := range []struct {
		depth int // of the innermost array, the object around it being 1
		ok    bool
	}{{sessions.MaxBodyDepth - 1, true}, {sessions.MaxBodyDepth, true}, {sessions.MaxBodyDepth + 1, false}} {
		b := nested(tc.depth)
		if got := sessions.WalkObject(b, func(key, value []byte) {}); got != tc.ok {
			t.Errorf("depth %d: got %v; want %v", tc.depth, got, tc.ok)
		}
		if problem := sessions.TooDeep("body", b); (problem == "") != tc.ok {
			t.Errorf("depth %d: TooDeep says %q", tc.depth, problem)
		}
	}
	// Malformed text is malformed, however deep.
	malformed := nested(sessions.MaxBodyDepth + 1)
	if problem := sessions.TooDeep("body", malformed[:len(malformed)-1]); problem != "" {
		t.Errorf("malformed: TooDeep says %q; want nothing", problem)
	}
}

func TestFilterAndPagingNestedTooDeeplyAreNamed(t *testing.T) {
	deep := nested(sessions.MaxBodyDepth + 1)
	var f sessions.FilterParams
	if err := f.UnmarshalJSON(deep); err == nil || err.Error() != "filter must not nest deeper than 64 levels" {
		t.Errorf("filter: got %v", err)
	}
	var p sessions.PagingParams
	if err := p.UnmarshalJSON(deep); err == nil || err.Error() != "paging must not nest deeper than 64 levels" {
		t.Errorf("paging: got %v", err)
	}
}

// nested returns an object whose innermost array is depth levels deep.
func nested(depth int) []byte {
	arrays := depth - 1
	return []byte(`{"a":` + strings.Repeat("[", arrays) + strings.Repeat("]", arrays) + `}`)
}

// FuzzFilterParams checks the filter decoding against the generic decoding
// it replaces: through a map of raw values.
func FuzzFilterParams(f *testing.F) {
	fuzzAgainst(f, func(b []byte) (p sessions.FilterParams, err error) {
		err = p.UnmarshalJSON(b)
		return p, err
	},
		referenceFilter, func(p sessions.FilterParams) string { return fmt.Sprintf("%#v", p) })
}

// FuzzPagingParams checks the paging decoding against the generic decoding
// it replaces.
func FuzzPagingParams(f *testing.F) {
	fuzzAgainst(f, func(b []byte) (p sessions.PagingParams, err error) {
		err = p.UnmarshalJSON(b)
		return p, err
	},
		referencePaging, pagingString)
}

// fuzzAgainst holds decode to the answers of reference: the same value, or
// one of the errors the reference may report.
func fuzzAgainst[T any](f *testing.F, decode func([]byte) (T, error), reference func([]byte) (T, []string), show func(T) string) {
	for _, s := range paramsSeeds {
		f.Add(s)
	}
	f.Add(string(nested(sessions.MaxBodyDepth + 1)))
	f.Fuzz(func(t *testing.T, in string) {
		got, err := decode([]byte(in))
		want, wantErrs := reference([]byte(in))
		if err != nil {
			if !slices.Contains(wantErrs, err.Error()) {
				t.Fatalf("%q: error %q; want one of %q", in, err, wantErrs)
			}
			return
		}
		if wantErrs != nil {
			t.Fatalf("%q: got %s; want one of %q", in, show(got), wantErrs)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %s; want %s", in, show(got), show(want))
		}
	})
}

var paramsSeeds = []string{
	`null`, ` null`, `{}`, `[]`, `""`, `1`, `{"a":1,}`, `{"a":01}`, `{"a":-0.0e-0}`,
	`{"user_id":"u1","active":"true","from_time":"2024-01-01T00:00:00Z"}`,
	`{"active":true,"n":12.5,"z":null}`, `{"a":{"b":[1,{"c":"}"}]},"a":"x"}`, `{"a":[],"b":{}}`,
	`{"skip":"5","take":10,"total":"true"}`, `{"skip":1.5}`, `{"take":"+7","total":1}`,
	`{"total":"F","skip":null,"take":""}`, `{"sk\u0069p":"1","x\ud800":"\udc00"}`,
	"{\"k\xff\":\"v\xfe\"}", `{"a":"\"\\\/\b\f\n\r\t\u0041"}`, `{"a":tru}`, `{"a":"x"} x`,
	`{"a":[1,[2,{"b":null}],"x"],"c":{"d":{}}}`, `{"a" : [ ] , "b" : { "c" : [ true , false ] } }`,
	`{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`, `{"a":{"b":1 "c":2}}`,
	`{"a":[}`, `{"a":{]}`, `{"a":[[[]]}`, `{"a":{"b":{"c":"}"}}}`, `{"a":["\u00zz"]}`,
}

// referenceFilter decodes a filter through a map of raw values, and returns
// the errors it may report: with several bad keys, any one of them.
func referenceFilter(b []byte) (sessions.FilterParams, []string) {
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	if problem := sessions.TooDeep("filter", b); problem != "" {
		return nil, []string{problem}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, []string{"filter type must be Map"}
	}
	out := make(sessions.FilterParams, len(raw))
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		s, ok, err := referenceScalar(raw[k])
		if err != nil {
			errs = append(errs, fmt.Sprintf("filter.%s must be a string, number or boolean", k))
		}
		if ok {
			out[k] = s
		}
	}
	return out, errs
}

// referencePaging decodes paging through a map of raw values, and returns
// the errors it may report: skip and take were checked in either order.
func referencePaging(b []byte) (sessions.PagingParams, []string) {
	var p sessions.PagingParams
	if bytes.Equal(b, []byte("null")) {
		return p, nil
	}
	if problem := sessions.TooDeep("paging", b); problem != "" {
		return p, []string{problem}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return p, []string{"paging type must be Map"}
	}
	var errs []string
	for key, dst := range map[string]**int64{"skip": &p.Skip, "take": &p.Take} {
		s, ok, err := referenceScalar(raw[key])
		if err == nil && (!ok || s == "") {
			continue
		}
		n, perr := referenceLong(s)
		if err != nil || perr != nil {
			errs = append(errs, fmt.Sprintf("paging.%s type must be long but found %s", key, referenceKind(raw[key])))
			continue
		}
		*dst = &n
	}
	if errs != nil {
		return p, errs
	}
	if s, ok, err := referenceScalar(raw["total"]); err != nil {
		return p, []string{"paging.total must be a boolean"}
	} else if ok && s != "" {
		t, ok := pipBooleans[strings.ToLower(s)]
		if !ok {
			return p, []string{"paging.total must be a boolean"}
		}
		p.Total = t
	}
	return p, nil
}

// referenceLong reads a paging number as the Node service's converter
// does: JavaScript's Math.round, ties toward +∞ (math.Round breaks them
// away from zero), within int64.
func referenceLong(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number")
	}
	r := math.Round(f)
	if f-r == 0.5 {
		r++
	}
	if math.Abs(r) >= 1<<63 && r != -1<<63 {
		return 0, errors.New("out of range")
	}
	return int64(r), nil
}

// referenceKind names the type of a JSON value that is not a long.
func referenceKind(v json.RawMessage) string {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "a number out of range" // beyond float64
	}
	switch x := x.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "map"
	case []any:
		return "array"
	case float64:
		if x != math.Trunc(x) {
			return "double"
		}
	}
	return "a number out of range"
}

func referenceScalar(v json.RawMessage) (s string, ok bool, err error) {
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		err = json.Unmarshal(v, &s)
		return s, err == nil, err
	case '{', '[':
		return "", false, fmt.Errorf("not a scalar")
	}
	return string(v), true, nil
}

func pagingString(p sessions.PagingParams) string {
	v := func(n *int64) string {
		if n == nil {
			return "nil"
		}
		return strconv.FormatInt(*n, 10)
	}
	return strings.Join([]string{"skip=" + v(p.Skip), "take=" + v(p.Take), "total=" + strconv.FormatBool(p.Total)}, " ")
}

// pipBooleans are the texts Pip.Services' boolean converter reads.
var pipBooleans = map[string]bool{
	"true": true, "t": true, "yes": true, "y": true, "1": true,
	"false": false, "f": false, "no": false, "n": false, "0": false,
}

func TestBooleansReadAsPipReadsThem(t *testing.T) {
	for _, s := range []string{"true", "TRUE", "t", "Yes", "y", "1", "false", "F", "no", "N", "0", "", "maybe", "2", "on", "truex"} {
		want, wantOK := pipBooleans[strings.ToLower(s)]
		if got, ok := sessions.ParseBoolean(s); got != want || ok != wantOK {
			t.Errorf("ParseBoolean(%q): got %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
	}
}
