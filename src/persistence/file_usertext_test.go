package persistence_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// frame returns the bytes of a journal record with payload p: its length,
// its CRC-32C and p, as anyone who reads the format can write them.
func frame(p []byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
	f = binary.LittleEndian.AppendUint32(f, crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)))
	return append(f, p...)
}

// syncedText returns valid UTF-8 text that holds a whole, checksummed
// synced record naming an offset of at least min: a user name that
// survives JSON.
func syncedText(min uint64) string {
	for v := min; ; v++ {
		if f := frame(binary.AppendUvarint([]byte{'S'}, v)); utf8.Valid(f) {
			return string(f)
		}
	}
}

// TestFileUserTextInATornLastBatchNeverMakesStartUpFatal: any user can put
// the bytes of a record in a user name. When a crash tears the batch that
// holds them before its commit record, the batch is dropped, as any torn
// last batch is, and the store opens with what was acknowledged.
func TestFileUserTextInATornLastBatchNeverMakesStartUpFatal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	store := openFile(t, path, map[string]any{"sync_interval": 3_600_000})
	c := logic.NewController(store, nil)
	if err := c.Configure(container.Config{}); err != nil {
		t.Fatal(err)
	}
	create(t, store, seq(1, 5))
	name, err := json.Marshal(syncedText(1 << 20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(t.Context(), sessions.SessionsRoute, "open_session",
		[]byte(`{"user_id":"mallory","user_name":`+string(name)+`}`)); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, path)
	j := journal(t, crashed)
	b, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j, b[:lastCommit(t, b)], 0o600); err != nil { // its commit record never written
		t.Fatal(err)
	}

	again := persistence.NewFile(crashed)
	if err := again.Open(t.Context()); err != nil {
		t.Fatalf("open after a crash tore the last, unacknowledged batch: got %v; want no error", err)
	}
	defer again.Close(context.Background())
	assertStored(t, again, seq(1, 5), 0)
}

// TestFileRecordsInUserTextAreOnlyText plants the bytes of records in a
// session's user name, then crashes. Replay never takes them for records:
// an acknowledged session is never lost, an unacknowledged one never comes
// back, and a torn last batch is dropped without an error, wherever the
// crash cut it.
func TestFileRecordsInUserTextAreOnlyText(t *testing.T) {
	first := sessionN(1).ID
	planted := []struct {
		name string
		text func(batchStart int64) []byte
	}{
		{"a synced record naming a far offset", func(int64) []byte {
			return frame(binary.AppendUvarint([]byte{'S'}, 1<<20))
		}},
		{"a synced record naming an offset inside its own batch", func(batchStart int64) []byte {
			return frame(binary.AppendUvarint([]byte{'S'}, uint64(batchStart+1)))
		}},
		{"a delete of an acknowledged session, then a commit record", func(int64) []byte {
			return append(frame([]byte("D"+first)), frame([]byte{'C', 1})...)
		}},
		{"a record header claiming the rest of the journal", func(int64) []byte {
			return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1<<20), 0)
		}},
	}
	crashes := []struct {
		name string
		// crash cuts the journal b as a crash would, given where the
		// planted text is; it reports whether the planted session and a
		// later one (7) stay.
		crash         func(t *testing.T, b []byte, at int) []byte
		planted, next bool
	}{
		{"no damage", func(_ *testing.T, b []byte, _ int) []byte { return b }, true, true},
		{"a later batch torn before its commit record", func(t *testing.T, b []byte, _ int) []byte {
			return b[:lastCommit(t, b)]
		}, true, false},
		{"its batch torn before its commit record", func(t *testing.T, b []byte, at int) []byte {
			return b[:nextCommit(t, b, at)]
		}, false, false},
		{"its record cut just after the planted text", func(_ *testing.T, b []byte, at int) []byte {
			return b[:at]
		}, false, false},
	}
	for _, p := range planted {
		for _, cr := range crashes {
			t.Run(p.name+"/"+cr.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "sessions.json")
				store := openFile(t, path, map[string]any{"sync_interval": 3_600_000})
				create(t, store, seq(1, 5))
				info, err := os.Stat(journal(t, path))
				if err != nil {
					t.Fatal(err)
				}
				text := p.text(info.Size())
				s := sessionN(6)
				s.UserName = string(text)
				if _, err := store.Create(t.Context(), s); err != nil {
					t.Fatal(err)
				}
				create(t, store, []int{7})
				crashed := crashCopy(t, path)
				j := journal(t, crashed)
				b, err := os.ReadFile(j)
				if err != nil {
					t.Fatal(err)
				}
				at := bytes.Index(b, text) + len(text)
				if err := os.WriteFile(j, cr.crash(t, b, at), 0o600); err != nil {
					t.Fatal(err)
				}

				again := persistence.NewFile(crashed)
				if err := again.Open(t.Context()); err != nil {
					t.Fatalf("open: got %v; want no error", err)
				}
				defer again.Close(context.Background())
				want := seq(1, 5)
				if cr.planted {
					want = append(want, 6)
				}
				if cr.next {
					want = append(want, 7)
				}
				assertStored(t, again, want, 0)
				if got, err := again.GetOneByID(t.Context(), s.ID); cr.planted && (err != nil || got == nil || got.UserName != s.UserName) {
					t.Errorf("planted session: got %+v, %v; want its user name as written", got, err)
				}
			})
		}
	}
}

// lastCommit returns the offset of the journal's last commit record.
func lastCommit(t *testing.T, b []byte) int {
	t.Helper()
	offsets, ops := frames(t, b)
	return offsets[bytes.LastIndexByte(ops, 'C')]
}

// nextCommit returns the offset of the first commit record after at.
func nextCommit(t *testing.T, b []byte, at int) int {
	t.Helper()
	offsets, ops := frames(t, b)
	for i, off := range offsets {
		if off >= at && ops[i] == 'C' {
			return off
		}
	}
	t.Fatalf("no commit record after offset %d", at)
	return 0
}
