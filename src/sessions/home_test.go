package sessions_test

import (
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestAHomeIDIsLimitedInCharacters(t *testing.T) {
	for _, tc := range []struct {
		why   string
		id    string
		valid bool
	}{
		{"256 ASCII letters", strings.Repeat("a", 256), true},
		{"257 ASCII letters", strings.Repeat("a", 257), false},
		{"200 Cyrillic letters, 400 bytes", strings.Repeat("ж", 200), true},
		{"256 Cyrillic letters", strings.Repeat("ж", 256), true},
		{"257 Cyrillic letters", strings.Repeat("ж", 257), false},
		{"256 emoji, 1024 bytes", strings.Repeat("😀", 256), true},
	} {
		t.Run(tc.why, func(t *testing.T) {
			h := sessions.Home{ID: tc.id, MaxSessions: 1}
			if err := h.Validate(); (err == nil) != tc.valid {
				t.Errorf("Validate: got %v; want valid %v", err, tc.valid)
			}
		})
	}
}

func TestAHomesLeaseTimeoutIsZeroOrOneSecondToThirtyDays(t *testing.T) {
	for _, tc := range []struct {
		ms    int64
		valid bool
	}{
		{0, true}, {999, false}, {1000, true}, {30 * 24 * 3600 * 1000, true}, {30*24*3600*1000 + 1, false}, {-1, false},
		// Beyond what a Duration holds in nanoseconds: it must not wrap round into range.
		{18446745073710, false}, {1 << 62, false},
	} {
		h := sessions.Home{ID: "h", MaxSessions: 1, LeaseTimeout: tc.ms}
		if err := h.Validate(); (err == nil) != tc.valid {
			t.Errorf("lease_timeout %d: got %v; want valid %v", tc.ms, err, tc.valid)
		}
	}
}
