package container

import (
	"slices"
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
