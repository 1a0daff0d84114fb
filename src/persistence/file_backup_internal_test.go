package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
)

// A compaction that runs between the copy of the journals and the copy of
// the snapshot removes the journals copied; the snapshot copied after it
// holds them, so the copy still loads every change made before it began.
func TestABackupCopyCutByACompactionHoldsEveryEarlierChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	f := NewFile(path)
	f.log = zap.NewNop()
	if err := f.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	put := func(from, to int) {
		t.Helper()
		for n := from; n < to; n++ {
			s := &sessions.Session{ID: fmt.Sprintf("s%04d", n), UserID: "u", Active: true, OpenTime: time.Now(), RequestTime: time.Now()}
			if _, err := f.Create(t.Context(), s); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 100)
	if err := f.compact(); err != nil { // a snapshot and a journal, both with sessions
		t.Fatal(err)
	}
	put(100, 200)

	copied := filepath.Join(t.TempDir(), "sessions.dat")
	if err := copyJournals(path, copied); err != nil {
		t.Fatal(err)
	}
	put(200, 300)
	if err := f.compact(); err != nil {
		t.Fatal(err)
	}
	was, now := journals(t, copied), journals(t, path)
	if len(was) != 1 || len(now) != 1 || now[0] <= was[0] {
		t.Fatalf("journals: %v copied, %v after the compaction; want one each, the second newer", was, now)
	}
	if err := copySnapshot(path, copied); err != nil {
		t.Fatal(err)
	}

	c := NewFile(copied)
	c.log = zap.NewNop()
	st, err := c.load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st.journal.close()
	if got := c.mem.Len(); got != 300 {
		t.Errorf("sessions in the copy: got %d; want the 300 the snapshot copied last holds", got)
	}
	for n := range 200 {
		if c.mem.get(fmt.Sprintf("s%04d", n)) == nil {
			t.Fatalf("session %d, made before the copy began, is not in it", n)
		}
	}
}

func journals(t *testing.T, path string) []uint64 {
	t.Helper()
	gens, err := listJournals(path)
	if err != nil {
		t.Fatal(err)
	}
	return gens
}
