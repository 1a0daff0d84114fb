package sessions_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestEventTypesAreKeptOnceHoweverOftenTheyAreListed(t *testing.T) {
	list := strings.Repeat("updated, closed,", 100_000) + "updated"
	got, err := sessions.ParseEventTypes(list)
	if want := []string{sessions.EventUpdated, sessions.EventClosed}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

func TestAnUnknownEventTypeIsRefused(t *testing.T) {
	if _, err := sessions.ParseEventTypes("opened,reopened"); err == nil || !strings.Contains(err.Error(), `"reopened"`) {
		t.Errorf("got %v; want an error naming reopened", err)
	}
}

// Empty entries name no type: a trailing comma, or a key given once empty.
func TestEmptyEventTypesAreSkipped(t *testing.T) {
	got, err := sessions.ParseEventTypes(",opened, ,closed,")
	if want := []string{sessions.EventOpened, sessions.EventClosed}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}
