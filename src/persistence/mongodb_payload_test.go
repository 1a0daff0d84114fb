package persistence

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// storeAndLoad returns s as MongoDB gives it back: encoded as a document,
// marshalled to BSON, unmarshalled and decoded.
func storeAndLoad(t *testing.T, s *sessions.Session) (*sessions.Session, *sessionDoc) {
	t.Helper()
	d, err := newSessionDoc(s)
	if err != nil {
		t.Fatalf("newSessionDoc: %v", err)
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("bson.Marshal: %v", err)
	}
	var back sessionDoc
	if err := bson.Unmarshal(b, &back); err != nil {
		t.Fatalf("bson.Unmarshal: %v", err)
	}
	got, err := back.session()
	if err != nil {
		t.Fatalf("session(): %v", err)
	}
	return got, d
}

func payloadSession(user, data string) *sessions.Session {
	now := time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)
	s := &sessions.Session{ID: "0123456789abcdef0123456789abcdef", UserID: "u", Active: true,
		OpenTime: now, RequestTime: now}
	if user != "" {
		s.User = json.RawMessage(user)
	}
	if data != "" {
		s.Data = json.RawMessage(data)
	}
	return s
}

// Any valid JSON payload reads back from MongoDB as exactly the text
// stored, as it does from the memory and file stores: as a native BSON
// value when that gives the same text, and as the text itself otherwise.
func TestMongoPayloadsRoundTripExactly(t *testing.T) {
	deep := strings.Repeat(`{"k":`, maxNativeDepth+1) + `1` + strings.Repeat(`}`, maxNativeDepth+1)
	tests := []struct {
		name, json string
		native     bool // stored as a native BSON value
	}{
		{"object", `{"name":"Ann","roles":["admin","user"],"n":3,"f":1.5,"ok":true,"none":null}`, true},
		{"array", `[1,"two",{"three":3},null,false,{}]`, true},
		{"string", `"just a string"`, true},
		{"empty string", `""`, true},
		{"int32", `-2147483648`, true},
		{"int64", `9223372036854775807`, true},
		{"double", `0.1`, true},
		{"small double", `1e-7`, true},
		{"large double", `1e+21`, true},
		{"integral double beyond int64", `100000000000000000000`, true},
		{"key order", `{"z":1,"a":2,"m":{"y":1,"b":2}}`, true},
		{"escapes", `"q\"b\\n\nt\tc\u0001<>&` + "\u2028" + `é日本"`, true},
		{"key with spaces and unicode", `{" x ":1,"é":2,"a$":3}`, true},
		{"empty containers", `{"a":{},"b":[]}`, true},
		{"array in object in array", `[{"a":[1]}]`, true},
		{"_id first", `{"_id":1,"a":{"_id":"x","b":2},"c":[{"_id":3}]}`, true},

		{"extended JSON lookalike", `{"$numberLong":"5"}`, false},
		{"date lookalike", `{"$date":"yesterday"}`, false},
		{"operator key deep inside", `{"a":[{"$set":1}]}`, false},
		{"dotted key", `{"a.b":1}`, false},
		{"empty key", `{"":1}`, false},
		{"NUL in key", `{"a\u0000b":1}`, false},
		{"repeated key", `{"a":1,"a":2}`, false},
		{"_id after another key", `{"a":1,"_id":2}`, false},
		{"_id after another key in an array", `[{"x":1,"_id":2}]`, false},
		{"_id after another key deep inside", `{"o":{"n":"n","_id":"abc"}}`, false},
		{"nested arrays", `[[1,2],[3]]`, false},
		{"empty array in array", `[1,[]]`, false},
		{"escaped line separator", `"\u2028"`, false},
		{"huge exponent", `1e400`, false},
		{"tiny exponent", `1e-400`, false},
		{"big integer", `12345678901234567890123`, false},
		{"negative zero", `-0`, false},
		{"trailing zero", `1.0`, false},
		{"capital exponent", `1E5`, false},
		{"exponent without sign", `1e21`, false},
		{"escaped letter", `"\u00e9"`, false},
		{"escaped slash", `"a\/b"`, false},
		{"upper-case hex escape", `"\u001F"`, false},
		{"lone surrogate", `"\ud800"`, false},
		{"too deep", deep, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.json)) {
				t.Fatalf("test payload %s is not JSON", tt.json)
			}
			got, d := storeAndLoad(t, payloadSession(tt.json, tt.json))
			if string(got.User) != tt.json || string(got.Data) != tt.json {
				t.Errorf("round trip: got user %s, data %s; want %s", got.User, got.Data, tt.json)
			}
			if native := !d.Data.IsZero(); native != tt.native || (d.DataText != "") == tt.native {
				t.Errorf("stored native %t with text %q; want native %t", native, d.DataText, tt.native)
			}
		})
	}
}

// FuzzMongoPayloadRoundTrip checks the same for any JSON text.
func FuzzMongoPayloadRoundTrip(f *testing.F) {
	for _, seed := range []string{`{"a":[1,{"b":null}],"c":"d"}`, `[[1]]`, `{"$date":1}`, `1e400`, `-0.0`,
		`"\u00e9\n"`, `{"a":1,"a":2}`, `{ "a" : 1 }`, `12345678901234567890`, `1.5e-7`, `true`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) || !utf8.ValidString(raw) || raw == "null" {
			return
		}
		got, _ := storeAndLoad(t, payloadSession("", raw))
		if string(got.Data) != raw {
			t.Errorf("got %s; want %s", got.Data, raw)
		}
	})
}

func TestMongoPayloadsAbsent(t *testing.T) {
	for _, raw := range []string{"", "null"} {
		got, d := storeAndLoad(t, payloadSession(raw, raw))
		if got.User != nil || got.Data != nil || !d.User.IsZero() || d.UserText != "" {
			t.Errorf("payload %q: got user %s, data %s, stored %v %q; want none", raw, got.User, got.Data, d.User, d.UserText)
		}
	}
}

// What MongoDB cannot hold is invalid data (a 400), never an internal error.
func TestMongoPayloadsThatCannotBeStored(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not JSON", `{"a":`},
		{"two values", `1 2`},
		{"invalid UTF-8", "\"a\xffb\""},
		{"too large", `"` + strings.Repeat("x", maxPayloadBytes) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSessionDoc(payloadSession("", tt.json))
			if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeInvalidData {
				t.Errorf("newSessionDoc: got %.200v; want code %s", err, sessions.CodeInvalidData)
			}
			_, err = mongoUpdate(sessions.Update{User: json.RawMessage(tt.json)})
			if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeInvalidData {
				t.Errorf("mongoUpdate: got %.200v; want code %s", err, sessions.CodeInvalidData)
			}
		})
	}
}

// A payload whose native form is too large for a document, but whose text
// is not, is kept as text.
func TestMongoPayloadLargeNativeFormIsKeptAsText(t *testing.T) {
	// Each element costs 2 bytes of JSON and 8 to 10 of BSON.
	raw := "[" + strings.Repeat("1,", maxPayloadBytes/8) + "1]"
	got, d := storeAndLoad(t, payloadSession("", raw))
	if d.DataText == "" || string(got.Data) != raw {
		t.Errorf("got native %t, round trip %t; want the text kept", !d.Data.IsZero(), string(got.Data) == raw)
	}
}

// An update sets a payload in one form and unsets the other, so a document
// never holds both.
func TestMongoUpdatePayloadForms(t *testing.T) {
	tests := []struct {
		name       string
		u          sessions.Update
		set, unset []string
	}{
		{"native", sessions.Update{Data: json.RawMessage(`{"a":1}`)}, []string{"data"}, []string{dataTextField}},
		{"text", sessions.Update{User: json.RawMessage(`{"$a":1}`)}, []string{userTextField}, []string{"user"}},
		{"null", sessions.Update{User: json.RawMessage(`null`)}, nil, []string{"user", userTextField}},
		{"close", sessions.Update{Data: json.RawMessage(`1`), RequestTime: time.Unix(1, 0), Close: &sessions.Closing{Reason: sessions.ReasonClosed}},
			[]string{"active", "request_time", "close_time", "close_reason"}, []string{"user", "data", userTextField, dataTextField}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			change, err := mongoUpdate(tt.u)
			if err != nil {
				t.Fatalf("mongoUpdate: %v", err)
			}
			keys := map[string][]string{}
			for _, op := range change {
				for _, e := range op.Value.(bson.D) {
					keys[op.Key] = append(keys[op.Key], e.Key)
				}
			}
			if !slices.Equal(keys["$set"], tt.set) || !slices.Equal(keys["$unset"], tt.unset) {
				t.Errorf("got $set %v, $unset %v; want $set %v, $unset %v", keys["$set"], keys["$unset"], tt.set, tt.unset)
			}
		})
	}
}

// Documents that the Node service or earlier versions of this one wrote
// read as before: plain values as JSON.stringify writes them, other BSON
// types as relaxed Extended JSON.
func TestBSONToJSONReadsStoredValues(t *testing.T) {
	date := time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"int32", int32(5), `5`},
		{"int64", int64(5), `5`},
		{"integral double", 3e9, `3000000000`},
		{"double", 1.5, `1.5`},
		{"large double", 1e21, `1e+21`},
		{"small double", 1.5e-7, `1.5e-7`},
		{"negative zero", math.Copysign(0, -1), `-0`},
		{"NaN", math.NaN(), `{"$numberDouble":"NaN"}`},
		{"string", "a\"\\\n\x01é<", `"a\"\\\n\u0001é<"`},
		{"invalid UTF-8", "a\xffb", `"a\ufffdb"`},
		{"document", bson.D{{Key: "z", Value: int32(1)}, {Key: "a.b", Value: "x"}, {Key: "$k", Value: nil}}, `{"z":1,"a.b":"x","$k":null}`},
		{"array", bson.A{int32(1), bson.A{}, bson.D{}, "x"}, `[1,[],{},"x"]`},
		{"date", date, `{"$date":"2026-11-21T21:34:17.379Z"}`},
		{"date inside", bson.D{{Key: "at", Value: date}}, `{"at":{"$date":"2026-11-21T21:34:17.379Z"}}`},
		{"object id", bson.ObjectID{0x65, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, `{"$oid":"650102030405060708090a0b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bson.Marshal(bson.D{{Key: "v", Value: tt.value}})
			if err != nil {
				t.Fatalf("bson.Marshal: %v", err)
			}
			got, err := bsonToJSON(bson.Raw(b).Lookup("v"))
			if err != nil {
				t.Fatalf("bsonToJSON: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
	for _, v := range []bson.RawValue{{}, {Type: bson.TypeNull}, {Type: bson.TypeUndefined}} {
		if got, err := bsonToJSON(v); got != nil || err != nil {
			t.Errorf("bsonToJSON(%v): got %s, %v; want nil, nil", v.Type, got, err)
		}
	}
}

// Any details key is kept, as the memory and file stores keep it: keys
// MongoDB cannot take as a field name are kept escaped, in a place of
// their own.
func TestMongoDetailKeys(t *testing.T) {
	keys := []string{"os", " x ", "a%2Eb", "%", "a$", "", "a.b", "$set", "a\x00b", "\xff", "100%", "x y"}
	escaped := map[string]bool{"": true, " x ": true, "a.b": true, "$set": true, "a\x00b": true, "\xff": true}
	s := payloadSession("", "")
	s.Details = map[string]string{}
	for i, k := range keys {
		s.Details[k] = string(rune('A' + i))
	}
	got, d := storeAndLoad(t, s)
	if len(got.Details) != len(s.Details) {
		t.Errorf("got %d details; want %d", len(got.Details), len(s.Details))
	}
	for k, v := range s.Details {
		if got.Details[k] != v {
			t.Errorf("details[%q]: got %q; want %q", k, got.Details[k], v)
		}
		if _, plain := d.Details[k]; plain == escaped[k] {
			t.Errorf("details[%q]: kept plain %t; want %t", k, plain, !escaped[k])
		}
	}
	for name := range d.EscapedDetails {
		if !plainDetailKey(name) || strings.TrimSpace(name) != name || strings.Contains(name, "$") {
			t.Errorf("escaped name %q is not a plain field name", name)
		}
	}

	u := sessions.Update{Details: map[string]string{}}
	for _, k := range keys {
		u.Details[k] = "v"
	}
	change, err := mongoUpdate(u)
	if err != nil {
		t.Fatalf("mongoUpdate: %v", err)
	}
	for _, e := range change[0].Value.(bson.D) {
		parent, name, _ := strings.Cut(e.Key, ".")
		if parent == escapedDetailsField {
			k, err := unescapeDetailKey(name)
			if err != nil || !escaped[k] || strings.ContainsAny(name, ".$") {
				t.Errorf("path %q: key %q, %v; want an escaped key", e.Key, k, err)
			}
		} else if parent != "details" || escaped[name] {
			t.Errorf("path %q: want details.<plain key>", e.Key)
		}
	}
}
