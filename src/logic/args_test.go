package logic

import (
	"bytes"
	"reflect"
	"testing"
)

func TestEveryCommandHasAFastPath(t *testing.T) {
	for _, cmd := range NewController(nil, nil).Commands() {
		if cmd.fast == nil {
			t.Errorf("%s: got no fast path; want one", cmd.Name)
		}
	}
}

func TestTheFastPathTakesOnlyTheCommonCase(t *testing.T) {
	wantTaken(t, "open_session", []takenCase{
		{"every argument type in its usual form", `{"user_id":"u1","client":"web","user":{"id":"u1","roles":["admin"]},` +
			`"data":null,"details":{"k":"v"}}`, true},
		{"spaces, escapes, null strings, unknown keys", " {\n \"user_id\" : \"\\u00e9\\n\", \"parent_id\": null, \"other\": [1, {\"x\": {}}] } ", true},
		{"a name in another case, an unknown key", `{"User_ID":"u1"}`, true},
		{"an escaped key", `{"user\u005fid":"u1"}`, false},
		{"a non-ASCII key, an unknown key", `{"uſer_id":"u1"}`, true},
		{"a repeated argument, whose last value counts", `{"user_id":"u1","user_id":null}`, true},
		{"a number for a string", `{"user_id":1}`, false},
		{"a map value that is not a string", `{"details":{"k":true}}`, false},
		{"malformed JSON inside an unknown key", `{"user_id":"u1","other":{"a":[}}`, false},
		{"a second value after the object", `{"user_id":"u1"} {}`, false},
	})
}

// A home is decoded alone: the body's other keys, however many, are only
// walked over.
func TestTheFastPathTakesAHomeAndDeclinesAHomeWithProblems(t *testing.T) {
	wantTaken(t, "set_home", []takenCase{
		{"a home", `{"home":{"id":"h","max_sessions":2,"policy":"evict_oldest"},"other":{"a":[1,2]}}`, true},
		{"a home given twice, whose last counts", `{"home":{"id":"x","max_sessions":1},"home":{"id":"h","max_sessions":3}}`, true},
		{"a first home with a problem, the last without", `{"home":{"id":"x"},"home":{"id":"h","max_sessions":3}}`, false},
		{"null", `{"home":null}`, true},
		{"a home without its id", `{"home":{"max_sessions":2}}`, false},
		{"a home of the wrong type", `{"home":"h"}`, false},
	})
}

// takenCase is a body and whether the fast path takes it, and why.
type takenCase struct {
	why   string
	body  string
	taken bool
}

// wantTaken checks each case against the fast path of the command named.
func wantTaken(t *testing.T, command string, cases []takenCase) {
	t.Helper()
	cmd := commandNamed(t, command)
	for _, tc := range cases {
		t.Run(tc.why, func(t *testing.T) {
			if got := sameAsSlowPath(t, cmd, []byte(tc.body)); got != tc.taken {
				t.Errorf("%s: taken %v; want %v", tc.body, got, tc.taken)
			}
		})
	}
}

// FuzzArgDecoder holds the fast path of every command to the slow one.
func FuzzArgDecoder(f *testing.F) {
	for _, s := range argSeeds {
		f.Add(s)
	}
	commands := NewController(nil, nil).Commands()
	f.Fuzz(func(t *testing.T, body string) {
		for _, cmd := range commands {
			sameAsSlowPath(t, cmd, []byte(body))
		}
	})
}

// sameAsSlowPath decodes body with the command's fast path and reports
// whether it took it; it fails the test unless the slow path decodes the
// body it takes to an equal value, keeping nothing of the body, and leaves
// the argument struct zero when it declines.
func sameAsSlowPath(t *testing.T, cmd Command, body []byte) bool {
	t.Helper()
	if cmd.fast == nil {
		return false
	}
	want := reflect.New(cmd.argsType)
	err := decodeObject(body, want.Elem(), "")
	got := reflect.New(cmd.argsType)
	in := bytes.Clone(body)
	taken := cmd.fast.decode(in, got.Elem())
	copy(in, bytes.Repeat([]byte{'#'}, len(in))) // what was taken must not share the body
	switch {
	case !taken && !got.Elem().IsZero():
		t.Fatalf("%s %q: declined, leaving %+v", cmd.Name, body, got.Elem())
	case taken && err != nil:
		t.Fatalf("%s %q: taken; the slow path fails: %v", cmd.Name, body, err)
	case taken && !reflect.DeepEqual(got.Interface(), want.Interface()):
		t.Fatalf("%s %q: got %+v; want %+v", cmd.Name, body, got.Elem(), want.Elem())
	}
	return taken
}

func commandNamed(t *testing.T, name string) Command {
	t.Helper()
	for _, cmd := range NewController(nil, nil).Commands() {
		if cmd.Name == name {
			return cmd
		}
	}
	t.Fatalf("no command %s", name)
	return Command{}
}

// argSeeds are each command's typical bodies and the odd ones around them.
var argSeeds = []string{
	// Not one object.
	``, ` `, `null`, `[]`, `"session_id"`, `1`, `true`, `{`, `{}}`, `{} {}`, `{"session_id":"a"`,
	`{"session_id":"a",}`, `{"session_id" "a"}`, `{session_id:"a"}`, `{"session_id":"a"} x`,

	// Names.
	`{"session_id":"3f2a9c1e4b5d"}`, ` {` + "\n\t" + `"session_id" : "3f2a9c1e4b5d" ` + "\r\n" + `} `,
	`{"session_id":"a","session_id":"b"}`, `{"Session_ID":"a"}`, `{"SESSION_ID":"a","session_id":"b"}`,
	`{"session_id":"a","SESSION_ID":"b"}`, `{"session\u005fid":"a"}`, `{"ſession_id":"a"}`, `{"session_id ":"a"}`,
	"{\"session_id\xff\":\"a\"}", `{"other":"x","session_id":"a","Other":{"deep":[1,{"x":null}]}}`,
	`{"":"a"}`, `{"session-id":"a"}`, `{"sessionid":"a"}`,

	// Strings.
	`{"session_id":""}`, `{"session_id":null}`, `{"session_id":1}`, `{"session_id":true}`,
	`{"session_id":{}}`, `{"session_id":[]}`, `{"session_id":"\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00"}`,
	`{"session_id":"\ud800"}`, "{\"session_id\":\"\xff\xfe\"}", `{"session_id":"\x"}`, `{"session_id":"\u12"}`,
	"{\"session_id\":\"a\tb\"}",

	// get_sessions, get_homes, get_devices.
	`{"filter":{"user_id":"u1","active":"true"},"paging":{"skip":0,"take":"10","total":true}}`,
	`{"filter":null,"paging":null}`, `{"filter":{},"paging":{}}`, `{"filter":{"active":true,"n":1.5}}`,
	`{"filter":{"a":{}}}`, `{"filter":"x"}`, `{"filter":[]}`, `{"filter":{"a":null}}`,
	`{"paging":{"skip":"x"}}`, `{"paging":[]}`, `{"paging":"x"}`, `{"paging":{"take":1},"paging":{"skip":2}}`,
	`{"filter":{},"filter":{"a":"1"}}`, `{"Filter":{"id":"acct"}}`, `{"filter":{"id":"acct"},"paging":{"total":"maybe"}}`,

	// open_session and the other commands' strings, maps and raw values.
	`{"user_id":"u1","user_name":"Ann","client":"bench","user":{"id":"u1","roles":["admin"]},"data":{"cart":[1,2,3]}}`,
	`{"user_id":"u1","user_name":"Ann","address":"10.0.0.1","client":"web","device_id":"d1","parent_id":"p1",` +
		`"details":{"k":"v"}}`,
	`{"user_id":"u1","user":null,"data":"text"}`, `{"user":  { "id" : "u1" } ,"data": [ 1 , 2 ]}`,
	`{"data":12.5e3}`, `{"data":-0}`, `{"data":true}`, `{"data":false}`, `{"data":[1,[2,[3]]]}`, `{"data":{"a":{]}}`,
	`{"data":[1,]}`, `{"data":01}`, `{"data":1.}`, `{"data":tru}`, `{"data":{"a":1}`,
	`{"details":{"k":"v","k":"w"}}`, `{"details":{"k":1}}`, `{"details":{"k":null}}`, `{"details":null}`,
	`{"details":{}}`, `{"details":[]}`, `{"details":"x"}`, `{"details":{"a":"1"},"details":{"b":"2"}}`,
	`{"details":{"k\u00e9":"v\n","":""}}`, "{\"details\":{\"\xff\":\"\xfe\"}}",
	`{"session_id":"s1","data":{"step":2}}`, `{"session_id":"s1","user":{"name":"Ann B"}}`,
	`{"session_id":"s1","details":{"theme":"dark"}}`, `{"session_id":"s1","address":"push-1"}`,
	`{"user_id":"u1"}`, `{"address":"push-1"}`, `{"user_id":"u1","push_address":"p","method":"m","params":{"a":1}}`,
	`{"method":"m","params":null}`, `{"home":{"id":"acct","max_sessions":3}}`, `{"home_id":"acct"}`,
	`{"device_id":"d1","user_id":"u1"}`, `{"device_id":"d1"}`,
}
