package container

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMillisRefusesWhatNoDurationHolds(t *testing.T) {
	cfg := Config{"short": "1500", "negative": -1, "huge": "9223372036854775"}
	if d, err := cfg.Millis("short", 0); err != nil || d != 1500*time.Millisecond {
		t.Errorf("short: got %v, %v; want 1.5s", d, err)
	}
	for _, key := range []string{"negative", "huge"} {
		if d, err := cfg.Millis(key, 0); err == nil {
			t.Errorf("%s: got %v; want an error", key, d)
		}
	}
}

func TestListReadsAYAMLListOrACommaSeparatedString(t *testing.T) {
	want := []string{"a", "b", "c"}
	for name, cfg := range map[string]Config{
		"list":            {"keys": []any{"a", " b ", "", "c"}},
		"comma-separated": {"keys": "a, b,,c"},
	} {
		if got := cfg.List("keys"); !slices.Equal(got, want) {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	if got := (Config{}).List("keys"); got != nil {
		t.Errorf("absent: got %q; want none", got)
	}
}

func TestCheckShapeRefusesSectionsWrittenAsOneValueAndStrayLists(t *testing.T) {
	for _, tc := range []struct {
		why  string
		cfg  Config
		want string // "" for none
	}{
		{"sections of keys", Config{"connection": map[string]any{"port": 1}, "options": Config{"a": 1}, "credential": nil}, ""},
		{"a list where the component reads one", Config{"Options": map[string]any{"API_Keys": []any{"k"}}}, ""},
		{"a section written as one value", Config{"connection": 5}, "connection: 5 is one value"},
		{"options written as text", Config{"options": "hello"}, "options: hello is one value"},
		{"a list where one value belongs", Config{"path": []any{"a"}}, "path: a list"},
		{"a list deep in a section", Config{"options": map[string]any{"sync": []any{"always"}}}, "options.sync: a list"},
	} {
		err := tc.cfg.CheckShape("options.api_keys")
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v; want %q", tc.why, err, tc.want)
		}
	}
}
