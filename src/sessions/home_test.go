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
