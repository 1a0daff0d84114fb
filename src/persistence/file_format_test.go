package persistence_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/persistence"
)

// Journals of earlier formats, in testdata, as the versions that wrote
// those formats left them at a crash:
//
//	journal-format-1  sessions 1 to 5, a batch each, no synced records.
//	                  Format 1 had none; such a journal of format 2 differs
//	                  from it only in the magic, which was set to SESSJRN1.
//	journal-format-2  sessions 1 to 6, a batch each, with options.sync
//	                  "always", so batches 2 to 6 end with a synced record;
//	                  the user name of session 6 holds a whole synced record
//	                  of that format (plantedV2) naming offset 1 MiB.
//
// Each is the only journal of a store without a snapshot: generation 0.

// plantedV2 is the synced record of format 2 held in session 6's user name.
var plantedV2 = frame(binary.AppendUvarint([]byte{'S'}, 1<<20))

// storeWithJournal returns the path of a store whose only file is the
// journal testdata/journal-format-<format>, changed by hurt.
func storeWithJournal(t *testing.T, format int, hurt func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("journal-format-%d", format)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sessions.json")
	if err := os.WriteFile(path+".journal.0", hurt(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func whole(b []byte) []byte { return b }

// beforeLastCommit cuts b before its last commit record, of a batch of one.
func beforeLastCommit(b []byte) []byte { return b[:bytes.LastIndex(b, frame([]byte{'C', 1}))] }

// breakFirstRecordOfFormat breaks the first record of a journal of format
// 1 or 2, whose header has no nonce.
func breakFirstRecordOfFormat(b []byte) []byte {
	b[16+8+3] ^= 0xff
	return b
}

func TestFileReadsAJournalOfTheFirstFormat(t *testing.T) {
	t.Run("whole", func(t *testing.T) {
		path := storeWithJournal(t, 1, whole)
		again := openFile(t, path, nil)
		assertStored(t, again, seq(1, 5), 0)
		create(t, again, []int{6})
		third := openFile(t, crashCopy(t, path), nil)
		assertStored(t, third, seq(1, 6), 0)
	})
	t.Run("its last batch torn before its commit record", func(t *testing.T) {
		assertStored(t, openFile(t, storeWithJournal(t, 1, beforeLastCommit), nil), seq(1, 4), 0)
	})
	t.Run("corrupt before a committed batch", func(t *testing.T) {
		path := storeWithJournal(t, 1, breakFirstRecordOfFormat)
		err := persistence.NewFile(path).Open(t.Context())
		if err == nil || !strings.Contains(err.Error(), "journal.0") || !strings.Contains(err.Error(), "committed records after it") {
			t.Errorf("open: got %v; want the corrupt record named, with committed records after it", err)
		}
	})
}

// TestFileReadsAJournalOfTheSecondFormat: a journal written before synced
// records carried the journal's nonce loads as it did, and the changes
// after it go to a journal of the current format, where no user text can
// pass for a synced record.
func TestFileReadsAJournalOfTheSecondFormat(t *testing.T) {
	t.Run("whole", func(t *testing.T) {
		path := storeWithJournal(t, 2, whole)
		again := openFile(t, path, nil)
		assertStored(t, again, seq(1, 6), 0)
		if got, err := again.GetOneByID(t.Context(), sessionN(6).ID); err != nil || got == nil || got.UserName != string(plantedV2) {
			t.Errorf("session 6: got %+v, %v; want its user name as written", got, err)
		}

		// Session 7 holds the same text, and the crash cuts its record
		// just after it: a journal of format 2 would take the text for a
		// synced record, the journal of the current format does not.
		s := sessionN(7)
		s.UserName = string(plantedV2)
		if _, err := again.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		crashed := crashCopy(t, path)
		name := crashed + ".journal.1"
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b[:bytes.Index(b, plantedV2)+len(plantedV2)], 0o600); err != nil {
			t.Fatal(err)
		}
		assertStored(t, openFile(t, crashed, nil), seq(1, 6), 0)
	})
	t.Run("its last batch, holding user text, torn before its commit record", func(t *testing.T) {
		assertStored(t, openFile(t, storeWithJournal(t, 2, beforeLastCommit), nil), seq(1, 5), 0)
	})
	t.Run("corrupt where an fsync made it durable", func(t *testing.T) {
		path := storeWithJournal(t, 2, breakFirstRecordOfFormat)
		err := persistence.NewFile(path).Open(t.Context())
		if err == nil || !strings.Contains(err.Error(), "journal.0") || !strings.Contains(err.Error(), "offset 16") || !strings.Contains(err.Error(), "durable") {
			t.Errorf("open: got %v; want the corrupt record at offset 16 named, in what an fsync made durable", err)
		}
	})
}
