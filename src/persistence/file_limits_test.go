package persistence_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// TestFileRefusesASessionTooLargeToReadBack: a change whose record would be
// larger than the store can read back (64 MiB) is refused with
// SESSION_TOO_LARGE before it is journaled. Nothing of it is stored, the
// store goes on taking changes, and it opens again after a crash and after
// a clean stop with exactly what it had.
func TestFileRefusesASessionTooLargeToReadBack(t *testing.T) {
	huge := json.RawMessage(`"` + strings.Repeat("x", 64<<20) + `"`)
	path := filepath.Join(t.TempDir(), "sessions.json")
	store := openFile(t, path, nil)
	create(t, store, []int{1})

	big := sessionN(2)
	big.Data = huge
	_, err := store.Create(t.Context(), big)
	assertTooLarge(t, "create", err)
	_, err = store.Update(t.Context(), sessionN(1).ID, sessions.Update{Data: huge})
	assertTooLarge(t, "update", err)

	create(t, store, []int{3})
	assertSmall(t, store)

	t.Run("after a crash", func(t *testing.T) {
		assertSmall(t, openFile(t, crashCopy(t, path), nil))
	})
	t.Run("after a clean stop", func(t *testing.T) {
		mustClose(t, store)
		assertSmall(t, openFile(t, path, nil))
	})
}

// assertSmall checks that sessions 1 and 3 are stored as created, and
// session 2 is not, without printing 64 MiB on a failure.
func assertSmall(t *testing.T, store *persistence.File) {
	t.Helper()
	for n, want := range map[int]bool{1: true, 2: false, 3: true} {
		s, err := store.GetOneByID(t.Context(), sessionN(n).ID)
		if err != nil || (s != nil) != want || (s != nil && string(s.Data) != string(sessionN(n).Data)) {
			size := -1
			if s != nil {
				size = len(s.Data)
			}
			t.Errorf("session %d: got found %v with %d bytes of data, %v; want found %v, as created",
				n, s != nil, size, err, want)
		}
	}
}

func assertTooLarge(t *testing.T, op string, err error) {
	t.Helper()
	if e := sessions.AsError(err); e == nil || e.Category != sessions.CategoryBadRequest || e.Code != "SESSION_TOO_LARGE" {
		t.Errorf("%s a session of 64 MiB of data: got %v; want BadRequest SESSION_TOO_LARGE", op, err)
	}
}
