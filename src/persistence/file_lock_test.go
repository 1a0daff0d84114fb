//go:build unix || windows

package persistence_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/persistence"
)

func TestAFileStoreIsOpenInOneProcessAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	first := persistence.NewFile(path)
	if err := first.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	create(t, first, []int{1})

	// Another process opening the same store would write over the same
	// journal; it is refused, naming the lock.
	err := persistence.NewFile(path).Open(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another process") || !strings.Contains(err.Error(), "sessions.json.lock") {
		t.Fatalf("open a store that is open: got %v; want an error naming the lock", err)
	}

	if err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := openFile(t, path, nil)
	assertStored(t, second, []int{1}, 0)
}
