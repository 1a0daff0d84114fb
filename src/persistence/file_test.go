package persistence_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var t0 = time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)

func sessionN(n int) *sessions.Session {
	rt := t0.Add(time.Duration(n) * time.Millisecond)
	return &sessions.Session{
		ID: fmt.Sprintf("%032x", n), UserID: fmt.Sprintf("user-%d", n%7), UserName: "User",
		Active: true, OpenTime: rt, RequestTime: rt, Address: "10.0.0.1", Client: "web",
		User: json.RawMessage(`{"name":"Ann"}`), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		Details: map[string]string{"os": "linux"},
	}
}

// openFile opens a file store at path with the given options and closes it
// at the end of the test unless the test closes it first.
func openFile(t *testing.T, path string, options map[string]any) *persistence.File {
	t.Helper()
	store := persistence.NewFile("")
	if err := store.Configure(container.Config{"path": path, "options": options}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := store.Open(t.Context()); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return store
}

func mustClose(t *testing.T, store *persistence.File) {
	t.Helper()
	if err := store.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// assertStored checks that the sessions numbered want are stored, with
// their data, beside others other sessions.
func assertStored(t *testing.T, store *persistence.File, want []int, others int) {
	t.Helper()
	page, err := store.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 1 << 20, Total: true})
	if err != nil {
		t.Fatalf("get page: %v", err)
	}
	if int(*page.Total) != len(want)+others {
		t.Errorf("stored sessions: got %d; want %d", *page.Total, len(want)+others)
	}
	for _, n := range want {
		s, err := store.GetOneByID(t.Context(), sessionN(n).ID)
		if err != nil || s == nil {
			t.Errorf("session %d: got %v, %v; want it stored", n, s, err)
			continue
		}
		if got, want := string(s.Data), string(sessionN(n).Data); got != want {
			t.Errorf("session %d data: got %s; want %s", n, got, want)
		}
		if !s.RequestTime.Equal(sessionN(n).RequestTime) || s.Details["os"] != "linux" {
			t.Errorf("session %d: got request_time %v, details %v; want %v, os=linux", n, s.RequestTime, s.Details, sessionN(n).RequestTime)
		}
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func create(t *testing.T, store *persistence.File, ns []int) {
	t.Helper()
	for _, n := range ns {
		if _, err := store.Create(t.Context(), sessionN(n)); err != nil {
			t.Fatalf("create %d: %v", n, err)
		}
	}
}

// crashCopy copies the store's files as they are on disk now, as a crash
// would leave them, and returns the copy's path. A compaction that renames
// or removes files meanwhile makes it copy them all again.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	for range 100 {
		before, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		err = copyFiles(filepath.Dir(path), dir, before)
		after, _ := os.ReadDir(filepath.Dir(path))
		if err == nil && slices.EqualFunc(before, after, func(a, b os.DirEntry) bool { return a.Name() == b.Name() }) {
			return filepath.Join(dir, filepath.Base(path))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		os.RemoveAll(dir)
		os.Mkdir(dir, 0o755)
	}
	t.Fatal("the store's files kept changing while they were copied")
	return ""
}

func copyFiles(from, to string, entries []os.DirEntry) error {
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func journal(t *testing.T, path string) string {
	t.Helper()
	names, err := filepath.Glob(path + ".journal.*")
	if err != nil || len(names) != 1 {
		t.Fatalf("journals: got %v, %v; want one", names, err)
	}
	return names[0]
}

func TestFileReopen(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		reopen  func(t *testing.T, store *persistence.File, path string) string
	}{
		{"after close", nil, func(t *testing.T, store *persistence.File, path string) string {
			mustClose(t, store)
			return path
		}},
		{"after a crash, from the journal", nil, func(t *testing.T, store *persistence.File, path string) string {
			return crashCopy(t, path)
		}},
		{"after compactions, then a crash", map[string]any{"compact_min_size": 2048, "compact_ratio": 1}, func(t *testing.T, store *persistence.File, path string) string {
			// Compaction runs in the background; wait for it to settle.
			deadline := time.Now().Add(5 * time.Second)
			for {
				snap, _ := os.Stat(path)
				names, _ := filepath.Glob(path + ".journal.*")
				if snap != nil && len(names) == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("no snapshot after compaction: %v", err)
			}
			return crashCopy(t, path)
		}},
		{"after compactions and close", map[string]any{"compact_min_size": 2048, "compact_ratio": 1}, func(t *testing.T, store *persistence.File, path string) string {
			mustClose(t, store)
			return path
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "sessions.json")
			store := openFile(t, path, tt.options)
			create(t, store, seq(1, 60))
			for _, n := range seq(1, 10) {
				if _, err := store.DeleteByID(t.Context(), sessionN(n).ID); err != nil {
					t.Fatalf("delete %d: %v", n, err)
				}
			}
			closed, err := store.Update(t.Context(), sessionN(11).ID, sessions.Update{
				Close: &sessions.Closing{Time: t0.Add(time.Hour), Reason: sessions.ReasonClosed}})
			if err != nil || closed == nil {
				t.Fatalf("close session: got %v, %v", closed, err)
			}
			renewed, err := store.Update(t.Context(), sessionN(12).ID, sessions.Update{RequestTime: t0.Add(time.Hour)})
			if err != nil || renewed == nil {
				t.Fatalf("renew session: got %v, %v", renewed, err)
			}

			reopened := tt.reopen(t, store, path)
			again := openFile(t, reopened, nil)
			assertStored(t, again, seq(13, 60), 2)
			got, err := again.GetOneByID(t.Context(), sessionN(11).ID)
			if err != nil || got == nil || got.Active || got.CloseReason != sessions.ReasonClosed || got.Data != nil {
				t.Errorf("closed session: got %+v, %v; want closed without data", got, err)
			}
			page, err := again.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 1})
			if err != nil || len(page.Data) != 1 || page.Data[0].ID != sessionN(12).ID {
				t.Errorf("newest session: got %v, %v; want the renewed session %s", page, err, sessionN(12).ID)
			}

			// The reopened store takes writes, and keeps them.
			create(t, again, []int{100})
			mustClose(t, again)
			third := openFile(t, reopened, nil)
			if got, err := third.GetOneByID(t.Context(), sessionN(100).ID); err != nil || got == nil {
				t.Errorf("session written after reopening: got %v, %v; want it", got, err)
			}
		})
	}
}

// TestARenewalJournalsTheTimesNotTheSession: a change that leaves a
// session's text as it was (a renewal) appends the session's times, not
// its text, so a renewal of a large session costs its change (SPEC §3).
// After a crash the renewed times come back on the session's last state,
// whether that is in the snapshot or in the journal, and a later put or
// delete of the session wins over them.
func TestARenewalJournalsTheTimesNotTheSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	store := openFile(t, path, nil)
	big := func(n int) *sessions.Session {
		s := sessionN(n)
		s.User = json.RawMessage(`"` + strings.Repeat("u", 100_000) + `"`)
		return s
	}
	for _, n := range []int{1, 2, 3, 4} {
		if _, err := store.Create(t.Context(), big(n)); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, store) // 1 to 4 are in the snapshot now
	store = openFile(t, path, nil)
	renew := func(n int, at time.Time) {
		t.Helper()
		if s, err := store.Update(t.Context(), sessionN(n).ID, sessions.Update{RequestTime: at, ExpireTime: at.Add(time.Minute)}); err != nil || s == nil {
			t.Fatalf("renew %d: got %v, %v", n, s, err)
		}
	}
	journal := func() int64 {
		t.Helper()
		names, _ := filepath.Glob(path + ".journal.*")
		var size int64
		for _, name := range names {
			info, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			size += info.Size()
		}
		return size
	}

	before := journal()
	renew(1, t0.Add(time.Hour)) // its state is in the snapshot
	if grew := journal() - before; grew > 200 {
		t.Errorf("a renewal of a session of 100 KB grew the journal by %d bytes; want its times alone", grew)
	}
	if _, err := store.Create(t.Context(), big(5)); err != nil { // its state is in the journal
		t.Fatal(err)
	}
	renew(5, t0.Add(2*time.Hour))
	renew(2, t0.Add(3*time.Hour))
	if _, err := store.Update(t.Context(), sessionN(2).ID, sessions.Update{Data: json.RawMessage(`{"after":"renewal"}`)}); err != nil {
		t.Fatal(err)
	}
	renew(3, t0.Add(4*time.Hour))
	if _, err := store.DeleteByID(t.Context(), sessionN(3).ID); err != nil {
		t.Fatal(err)
	}
	// Details whose keys and values run together as before are a change
	// of the text all the same: {"a":"bc"} is not {"ab":"c"}.
	if _, err := store.Update(t.Context(), sessionN(4).ID, sessions.Update{Details: map[string]string{"a": "bc"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(t.Context(), sessionN(4).ID, sessions.Update{Details: map[string]string{"a": "", "ab": "c"}}); err != nil {
		t.Fatal(err)
	}

	again := openFile(t, crashCopy(t, path), nil)
	for _, want := range []struct {
		n       int
		request time.Time
		data    string
	}{
		{1, t0.Add(time.Hour), ""},
		{5, t0.Add(2 * time.Hour), ""},
		{2, t0.Add(3 * time.Hour), `{"after":"renewal"}`},
		{4, sessionN(4).RequestTime, ""},
	} {
		got, err := again.GetOneByID(t.Context(), sessionN(want.n).ID)
		if err != nil || got == nil {
			t.Fatalf("session %d after the crash: got %v, %v", want.n, got, err)
		}
		if !got.RequestTime.Equal(want.request) || len(got.User) != 100_002 || want.data != "" && string(got.Data) != want.data {
			t.Errorf("session %d after the crash: request_time %v, user of %d bytes, data %s; want %v, the user, data %q",
				want.n, got.RequestTime, len(got.User), got.Data, want.request, want.data)
		}
		if want.n != 4 && !got.ExpireTime.Equal(want.request.Add(time.Minute)) && want.data == "" {
			t.Errorf("session %d after the crash: expire_time %v; want %v", want.n, got.ExpireTime, want.request.Add(time.Minute))
		}
	}
	if got, err := again.GetOneByID(t.Context(), sessionN(3).ID); err != nil || got != nil {
		t.Errorf("session 3, renewed then deleted: got %v, %v; want it gone", got, err)
	}
	if got, err := again.GetOneByID(t.Context(), sessionN(4).ID); err != nil || got == nil || !maps.Equal(got.Details, map[string]string{"ab": "c", "os": "linux"}) {
		t.Errorf("session 4's details after the crash: got %v, %v; want ab: c and os: linux", got, err)
	}
	page, err := again.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 1})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != sessionN(2).ID {
		t.Errorf("newest session after the crash: got %v, %v; want session 2, renewed last", page, err)
	}
}

// TestFileCleanStopLeavesTheSnapshotAlone: after Close, with or without a
// write since Open, the store is its snapshot and the lock file, as an
// earlier build, which may not read this build's journals, needs it to
// be for a roll back.
func TestFileCleanStopLeavesTheSnapshotAlone(t *testing.T) {
	tests := []struct {
		name  string
		store func(t *testing.T) string // the path of the store to open
		write []int
		want  []int
		kept  bool // the snapshot is not written again: it holds everything
	}{
		{"a new store, no write", newStore, nil, nil, false},
		{"a new store, writes", newStore, seq(1, 3), seq(1, 3), false},
		{"a store with sessions, no write", storeWithSessions, nil, seq(1, 3), true},
		{"a store with sessions, writes", storeWithSessions, seq(4, 5), seq(1, 5), false},
		{"a journal of an earlier format, no write", func(t *testing.T) string {
			return storeWithJournal(t, 2, whole)
		}, nil, seq(1, 6), false},
		{"a snapshot and a journal of an earlier format, no write", func(t *testing.T) string {
			path := storeWithSessions(t)
			snapshot, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			journal, err := os.ReadFile(filepath.Join("testdata", "journal-format-2"))
			if err != nil {
				t.Fatal(err)
			}
			gen := binary.LittleEndian.Uint64(snapshot[8:]) // the journal the snapshot goes on with
			binary.LittleEndian.PutUint64(journal[8:], gen)
			if err := os.WriteFile(fmt.Sprintf("%s.journal.%d", path, gen), journal, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}, nil, seq(1, 6), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.store(t)
			before, _ := os.Stat(path)
			store := openFile(t, path, nil)
			create(t, store, tt.write)
			mustClose(t, store)
			if after, err := os.Stat(path); err != nil || tt.kept != (before != nil && os.SameFile(before, after)) {
				t.Errorf("snapshot kept as it was: got %v (%v); want %v", !tt.kept, err, tt.kept)
			}

			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if want := []string{"sessions.json", "sessions.json.lock"}; !slices.Equal(got, want) {
				t.Errorf("files after close: got %v; want %v", got, want)
			}
			assertStored(t, openFile(t, path, nil), tt.want, 0)
		})
	}
}

func newStore(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "sessions.json")
}

// storeWithSessions returns the path of a store closed holding sessions 1 to 3.
func storeWithSessions(t *testing.T) string {
	t.Helper()
	path := newStore(t)
	store := openFile(t, path, nil)
	create(t, store, seq(1, 3))
	mustClose(t, store)
	return path
}

func TestFileTornTail(t *testing.T) {
	tests := []struct {
		name string
		tear func(b []byte) []byte
		want []int
	}{
		{"garbage appended", func(b []byte) []byte { return append(b, "\x17\x00\x00\x00garbage after the last batch"...) }, seq(1, 5)},
		{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, seq(1, 5)},
		{"half of the last record", func(b []byte) []byte { return b[:len(b)-40] }, seq(1, 4)},
		{"commit record missing", func(b []byte) []byte { return b[:len(b)-10] }, seq(1, 4)},
		{"last record's checksum broken", func(b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-20] ^= 0xff
			return c
		}, seq(1, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.json")
			store := openFile(t, path, nil)
			create(t, store, seq(1, 5))
			crashed := crashCopy(t, path)
			name := journal(t, crashed)
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, tt.tear(b), 0o644); err != nil {
				t.Fatal(err)
			}

			again := openFile(t, crashed, nil)
			assertStored(t, again, tt.want, 0)
			// Writes after the dropped tail land on a clean journal.
			create(t, again, []int{6})
			third := openFile(t, crashCopy(t, crashed), nil)
			assertStored(t, third, append(tt.want, 6), 0)
		})
	}
}

// The temporary files a crash left in the middle of writing a snapshot, a
// journal or a Node file's copy are removed at the next start; any other
// file is left alone, the store's own .tmp-like names included.
func TestFileRemovesTheTemporaryFilesACrashLeft(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	store := openFile(t, path, nil)
	create(t, store, seq(1, 5))
	crashed := crashCopy(t, path)
	dir := filepath.Dir(crashed)
	left := []string{crashed + ".tmp", crashed + ".journal.7.tmp", crashed + ".node-backup.tmp"}
	kept := []string{crashed + ".journal.x.tmp", crashed + ".other.tmp", filepath.Join(dir, "notes.tmp"), crashed + ".tmp.bak"}
	for _, name := range append(slices.Clone(left), kept...) {
		if err := os.WriteFile(name, []byte("half a write"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again := openFile(t, crashed, nil)
	assertStored(t, again, seq(1, 5), 0)
	for _, name := range left {
		if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v; want it removed", filepath.Base(name), err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s: got %v; want it kept", filepath.Base(name), err)
		}
	}
}

// journalHeader is the size of a journal's header: magic, generation, nonce.
const journalHeader = 24

// frames returns the offset of each frame of a journal, after its header,
// and the operation of each.
func frames(t *testing.T, b []byte) (offsets []int, ops []byte) {
	t.Helper()
	for off := journalHeader; off+8 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		if off+8+size > len(b) || size == 0 {
			t.Fatalf("journal frame at %d runs past the end", off)
		}
		offsets, ops = append(offsets, off), append(ops, b[off+8])
		off += 8 + size
	}
	return offsets, ops
}

// damage copies the store's files as a crash leaves them, applies hurt to
// its journal, and returns the copy's path and the journal's name.
func damage(t *testing.T, path string, hurt func(t *testing.T, b []byte)) (string, string) {
	t.Helper()
	crashed := crashCopy(t, path)
	name := journal(t, crashed)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	hurt(t, b)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return crashed, name
}

// breakFirstRecord breaks the checksum of the journal's first record.
func breakFirstRecord(_ *testing.T, b []byte) { b[journalHeader+8+3] ^= 0xff }

// writeUntilSynced creates sessions from n on, one at a time, until the
// journal holds a synced record: an fsync has made the earlier ones durable
// and a later batch says so. It returns the next n.
func writeUntilSynced(t *testing.T, store *persistence.File, path string, n int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); n++ {
		create(t, store, []int{n})
		b, err := os.ReadFile(journal(t, path))
		if err != nil {
			t.Fatal(err)
		}
		if _, ops := frames(t, b); bytes.IndexByte(ops, 'S') >= 0 {
			return n + 1
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no synced record in the journal after 10 s")
	return 0
}

func TestFileCorruptionOfWhatAnFsyncMadeDurableIsAnError(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		write   func(t *testing.T, store *persistence.File, path string)
	}{
		{"sync always: every batch is fsynced before the next", map[string]any{"sync": "always"},
			func(t *testing.T, store *persistence.File, _ string) { create(t, store, seq(1, 5)) }},
		{"sync interval: an fsync came after the first batch", map[string]any{"sync_interval": 10},
			func(t *testing.T, store *persistence.File, path string) {
				create(t, store, []int{1})
				writeUntilSynced(t, store, path, 2)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.json")
			store := openFile(t, path, tt.options)
			tt.write(t, store, path)
			crashed, name := damage(t, path, breakFirstRecord)

			err := persistence.NewFile(crashed).Open(t.Context())
			if err == nil {
				t.Fatal("open a journal whose durable part is corrupt: got no error; want one")
			}
			for _, want := range []string{filepath.Base(name), fmt.Sprint("offset ", journalHeader), "durable"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error: got %q; want it to name %q", err, want)
				}
			}

			// The way out the README gives: cut the journal where the
			// error says it is intact, and start with what comes before.
			var intact int64
			if _, scanErr := fmt.Sscanf(err.Error()[strings.LastIndex(err.Error(), "intact up to offset"):], "intact up to offset %d", &intact); scanErr != nil {
				t.Fatalf("error: got %q; want it to say where the journal is intact", err)
			}
			if err := os.Truncate(name, intact); err != nil {
				t.Fatal(err)
			}
			again := openFile(t, crashed, nil)
			assertStored(t, again, nil, 0)
			create(t, again, []int{9})
			assertStored(t, openFile(t, crashCopy(t, crashed), nil), []int{9}, 0)
		})
	}
}

func TestFileDamageAPowerLossLeftBeforeAnFsyncDropsTheJournalFromThere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	// No fsync comes while the test writes: the five batches are in the
	// page cache only, and a power loss may write any of its pages.
	store := openFile(t, path, map[string]any{"sync_interval": 3_600_000})
	create(t, store, seq(1, 5))
	crashed, _ := damage(t, path, func(t *testing.T, b []byte) {
		// The page holding the third batch never reached the disk; the
		// fourth and fifth did.
		offsets, _ := frames(t, b)
		clear(b[offsets[4]:offsets[6]])
	})

	again := openFile(t, crashed, nil)
	assertStored(t, again, seq(1, 2), 0)
	// Writes after the dropped end land on a clean journal, and stay.
	create(t, again, []int{6})
	third := openFile(t, crashCopy(t, crashed), nil)
	assertStored(t, third, []int{1, 2, 6}, 0)
}

// TestFileBringsBackEveryIDItAccepts: sessions are records of bytes, so
// any id comes back; homes, devices and slots are JSON text, so an id
// that is not UTF-8 is refused rather than brought back changed.
func TestFileBringsBackEveryIDItAccepts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	store := openFile(t, path, nil)
	ctx := t.Context()
	s := sessionN(1)
	s.UserID, s.DeviceID = "user-\xff", "device-\xfe"
	if _, err := store.Create(ctx, s); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, id := range []string{"home-é-😀", "home-\ufffd"} {
		if _, err := store.SetHome(ctx, &sessions.Home{ID: id, MaxSessions: 2, Policy: sessions.PolicyDeny}); err != nil {
			t.Fatalf("set home %q: %v", id, err)
		}
	}
	refused := []struct {
		name string
		do   func() error
	}{
		{"a home", func() error {
			_, err := store.SetHome(ctx, &sessions.Home{ID: "home-\xff", MaxSessions: 2, Policy: sessions.PolicyDeny})
			return err
		}},
		{"a device's account", func() error {
			_, _, err := store.SetDevice(ctx, &sessions.Device{ID: "device-1", UserID: "user-\xff", CreateTime: t0})
			return err
		}},
		{"a slot's home", func() error {
			_, err := store.TakeSlot(ctx, sessions.NewSlot("home-\xff", 0, s.ID, t0))
			return err
		}},
	}
	for _, r := range refused {
		if err := r.do(); sessions.AsError(err) == nil || sessions.AsError(err).Category != sessions.CategoryBadRequest {
			t.Errorf("%s with an id that is not UTF-8: got %v; want a bad request", r.name, err)
		}
	}
	mustClose(t, store)

	again := openFile(t, path, nil)
	got, err := again.GetOneByID(ctx, s.ID)
	if err != nil || got == nil || got.UserID != s.UserID || got.DeviceID != s.DeviceID {
		t.Errorf("session after reopening: got %+v, %v; want user %q, device %q", got, err, s.UserID, s.DeviceID)
	}
	for _, id := range []string{"home-é-😀", "home-\ufffd"} {
		if h, err := again.GetHome(ctx, id); err != nil || h == nil || h.ID != id {
			t.Errorf("home %q after reopening: got %+v, %v", id, h, err)
		}
	}
	if h, _ := again.GetHome(ctx, "home-\xff"); h != nil {
		t.Errorf("refused home after reopening: got %+v; want none", h)
	}
	if d, _ := again.GetDevice(ctx, "device-1"); d != nil {
		t.Errorf("refused device after reopening: got %+v; want none", d)
	}
	if slots, _ := again.GetSlots(ctx, "home-\xff"); len(slots) != 0 {
		t.Errorf("refused slot after reopening: got %+v; want none", slots)
	}
}

func TestFileNodeMigration(t *testing.T) {
	original, err := os.ReadFile(filepath.Join("testdata", "node-sessions.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sessions.json")
	if err := os.WriteFile(path, original, 0o644); err != nil {
		t.Fatal(err)
	}
	store := openFile(t, path, nil)

	got, err := store.GetOneByID(t.Context(), "6f1a7c5e0b2d4e3fa1c9d8b7e6f5a4b3")
	if err != nil || got == nil {
		t.Fatalf("get migrated session: got %v, %v", got, err)
	}
	if want := time.Date(2026, 1, 10, 9, 30, 0, 123_000_000, time.UTC); !got.RequestTime.Equal(want) {
		t.Errorf("request_time: got %v; want %v", got.RequestTime, want)
	}
	if string(got.User) != `{"id":"1","name":"Test User 1","roles":["admin"]}` || got.Address != "192.168.1.10" {
		t.Errorf("migrated session: got user %s, address %q", got.User, got.Address)
	}
	backup, err := os.ReadFile(path + ".node-backup")
	if err != nil || !bytes.Equal(backup, original) {
		t.Errorf("backup: got %d bytes, %v; want the original %d bytes", len(backup), err, len(original))
	}

	expiry := sessions.Expiry{IdleBefore: time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC), Now: time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)}
	expiredIDs, err := store.ExpiredIDs(t.Context(), expiry)
	if err != nil || len(expiredIDs) != 1 {
		t.Fatalf("expired ids: got %v, %v; want one, nil", expiredIDs, err)
	}
	closing := sessions.Update{Close: &sessions.Closing{Time: expiry.Now, Reason: sessions.ReasonExpired}, IfExpired: &expiry}
	if closed, err := store.Update(t.Context(), expiredIDs[0], closing); err != nil || closed == nil {
		t.Fatalf("close expired: got %v, %v; want the session", closed, err)
	}
	mustClose(t, store)

	again := openFile(t, path, nil)
	yes := true
	page, err := again.GetPageByFilter(t.Context(), sessions.Filter{Active: &yes, Now: t0}, sessions.Paging{Take: 10, Total: true})
	if err != nil || *page.Total != 1 || page.Data[0].ID != "0c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f" {
		t.Errorf("active after reopening: got %v, %v; want only session 0c9e…", page, err)
	}
	expired, err := again.GetOneByID(t.Context(), "6f1a7c5e0b2d4e3fa1c9d8b7e6f5a4b3")
	if err != nil || expired == nil || expired.CloseReason != sessions.ReasonExpired || expired.User != nil {
		t.Errorf("expired session: got %+v, %v; want closed as expired without user", expired, err)
	}
}

// A Node file written by hand may hold white space inside user and data,
// and an id twice: each payload is stored compact, as an open stores it,
// and one session is kept per id, with a warning that counts the others.
func TestFileNodeMigrationOfAHandWrittenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	node := `[
  {"id": "a1", "user_id": "u1", "active": true, "open_time": "2026-01-10T09:00:00.000Z",
   "request_time": "2026-01-10T09:00:00.000Z", "user": { "name" : "Ann" }, "data": [ 1, 2 ]},
  {"id": "a1", "user_id": "u2", "active": true, "open_time": "2026-01-10T09:00:00.000Z",
   "request_time": "2026-01-10T09:00:00.000Z", "user": { "name" : "Bob" }, "data": { "k" : [ 1 ] }}
]`
	if err := os.WriteFile(path, []byte(node), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	refs := container.NewReferences()
	refs.Put(container.Descriptor{Group: "pip-services", Type: "logger", Kind: "console", Name: "default", Version: "1.0"}, zap.New(core))
	store := persistence.NewFile(path)
	if err := store.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	if err := store.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, store)

	page, err := store.GetPageByFilter(t.Context(), sessions.Filter{Now: t0}, sessions.Paging{Take: 10, Total: true})
	if err != nil || *page.Total != 1 {
		t.Fatalf("sessions: got %v, %v; want the one of id a1", page, err)
	}
	compact := map[string][2]string{"u1": {`{"name":"Ann"}`, `[1,2]`}, "u2": {`{"name":"Bob"}`, `{"k":[1]}`}}
	s, err := store.GetOneByID(t.Context(), "a1")
	if err != nil || s == nil {
		t.Fatalf("get a1: got %v, %v", s, err)
	}
	if [2]string{string(s.User), string(s.Data)} != compact[s.UserID] {
		t.Errorf("payloads of %s: got user %s, data %s; want them compact", s.UserID, s.User, s.Data)
	}
	if got := logs.FilterField(zap.Int("dropped", 1)).Len(); got != 1 {
		t.Errorf("warnings of the dropped duplicate: got %d; want 1 (%v)", got, logs.All())
	}
}

// TestFileKeepsItsFilesPrivate: the store creates its directory 0700 and
// its files 0600, as they hold every session's user and data; a file it
// replaces (by a compaction, a clean stop or a migration) keeps its mode,
// so an operator's chmod lasts.
func TestFileKeepsItsFilesPrivate(t *testing.T) {
	t.Run("new files", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "sessions.json")
		store := openFile(t, path, nil)
		create(t, store, []int{1})
		assertMode(t, dir, 0o700)
		assertMode(t, journal(t, path), 0o600)
		mustClose(t, store)
		assertMode(t, path, 0o600)
	})
	t.Run("a compacted snapshot", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sessions.json")
		store := openFile(t, path, nil)
		create(t, store, []int{1})
		mustClose(t, store)
		chmod(t, path, 0o640)
		store = openFile(t, path, map[string]any{"compact_min_size": 0})
		create(t, store, seq(2, 50))
		mustClose(t, store)
		assertMode(t, path, 0o640)
	})
	t.Run("a migrated Node file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sessions.json")
		if err := os.WriteFile(path, []byte("[]"), 0o600); err != nil {
			t.Fatal(err)
		}
		chmod(t, path, 0o644)
		openFile(t, path, nil)
		assertMode(t, path, 0o644)
		assertMode(t, path+".node-backup", 0o600)
	})
}

func chmod(t *testing.T, name string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

func assertMode(t *testing.T, name string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s: got %o; want %o", filepath.Base(name), got, want)
	}
}

func TestFileConfigure(t *testing.T) {
	tests := []struct {
		name    string
		cfg     container.Config
		wantErr string
	}{
		{"missing path", container.Config{}, "path"},
		{"empty path", container.Config{"path": ""}, "path"},
		{"bad ratio", container.Config{"path": "x", "options": map[string]any{"compact_ratio": "0.5"}}, "options.compact_ratio"},
		{"bad minimum", container.Config{"path": "x", "options": map[string]any{"compact_min_size": "lots"}}, "options.compact_min_size"},
		{"valid", container.Config{"path": "x", "options": map[string]any{"compact_ratio": "3", "compact_min_size": 1024}}, ""},
		{"sync always", container.Config{"path": "x", "options": map[string]any{"sync": "always"}}, ""},
		{"sync interval", container.Config{"path": "x", "options": map[string]any{"sync": "interval", "sync_interval": 200}}, ""},
		{"bad sync", container.Config{"path": "x", "options": map[string]any{"sync": "sometimes"}}, "options.sync"},
		{"bad sync interval", container.Config{"path": "x", "options": map[string]any{"sync_interval": 0}}, "options.sync_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := persistence.NewFile("").Configure(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("configure: got %v; want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("configure: got %v; want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestEverySyncModeKeepsAcknowledgedWrites reopens a store after writes in
// each mode: what was acknowledged is there.
func TestEverySyncModeKeepsAcknowledgedWrites(t *testing.T) {
	for _, mode := range []string{"always", "interval"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.json")
			store := openFile(t, path, map[string]any{"sync": mode, "sync_interval": 10})
			for i := range 20 {
				s := &sessions.Session{ID: fmt.Sprintf("s%02d", i), UserID: "u", Active: true,
					OpenTime: time.Now(), RequestTime: time.Now()}
				if _, err := store.Create(t.Context(), s); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(30 * time.Millisecond) // past a sync interval
			mustClose(t, store)
			again := openFile(t, path, nil)
			page, err := again.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 100, Total: true})
			if err != nil || *page.Total != 20 {
				t.Errorf("reopened: got %v sessions, %v; want 20", page, err)
			}
			mustClose(t, again)
		})
	}
}

func TestFileRejectsWritesAfterClose(t *testing.T) {
	store := openFile(t, filepath.Join(t.TempDir(), "sessions.json"), nil)
	create(t, store, []int{1})
	mustClose(t, store)
	if _, err := store.Create(t.Context(), sessionN(2)); sessions.AsError(err) == nil || sessions.AsError(err).Code != sessions.CodeStoreUnavailable {
		t.Errorf("create after close: got %v; want %s", err, sessions.CodeStoreUnavailable)
	}
	if _, err := store.Update(t.Context(), sessionN(1).ID, sessions.Update{Data: json.RawMessage(`2`)}); err == nil {
		t.Error("update after close: got no error; want one")
	}
}

func TestFileRejectsAnUnknownFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	if err := os.WriteFile(path, []byte("not sessions"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := persistence.NewFile(path).Open(t.Context())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("open: got %v; want an error naming %s", err, path)
	}
}

// A journal is written whole under a temporary name and renamed: one
// shorter than its header was cut outside the service, and the error says
// so rather than blame its format.
func TestFileRefusesAJournalCutShorterThanItsHeader(t *testing.T) {
	for _, size := range []int64{0, 10, 20} {
		t.Run(fmt.Sprint(size, " bytes"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.json")
			store := openFile(t, path, nil)
			create(t, store, seq(1, 3))
			crashed := crashCopy(t, path)
			if err := os.Truncate(journal(t, crashed), size); err != nil {
				t.Fatal(err)
			}
			err := persistence.NewFile(crashed).Open(t.Context())
			if err == nil || !strings.Contains(err.Error(), "shorter than a journal's header") {
				t.Errorf("open: got %v; want the journal cut shorter than its header", err)
			}
		})
	}
}

// durabilityEnv selects the child mode of TestFileDurability.
const durabilityEnv = "SESSIONS_FILE_DURABILITY_PATH"

// TestFileDurability kills a writing process with SIGKILL and checks that
// every write it had acknowledged survived.
func TestFileDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "sessions.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileDurabilityChild$")
	cmd.Env = append(os.Environ(), durabilityEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var (
		created, updated, deleted = map[string]bool{}, map[string]bool{}, map[string]bool{}
		deleting                  = map[string]bool{}
		acks                      int
		killed                    bool
	)
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		op, id, ok := strings.Cut(lines.Text(), " ")
		if !ok {
			continue
		}
		switch op {
		case "created":
			created[id] = true
		case "updated":
			updated[id] = true
		case "deleting":
			deleting[id] = true
		case "deleted":
			deleted[id] = true
		}
		if acks++; acks == 600 && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the writer stopped after %d acknowledgements: %v\n%s", acks, err, stderr.String())
	}
	t.Logf("acknowledged before the kill: %d creates, %d updates, %d deletes", len(created), len(updated), len(deleted))

	store := openFile(t, path, nil)
	for id := range created {
		got, err := store.GetOneByID(t.Context(), id)
		switch {
		case err != nil:
			t.Fatalf("get %s: %v", id, err)
		case deleted[id] && got != nil:
			t.Errorf("session %s: deletion acknowledged, but it is stored", id)
		case got == nil && !deleting[id]:
			t.Errorf("session %s: creation acknowledged, but it is gone", id)
		case got != nil && updated[id] && string(got.Data) != `{"n":2}`:
			t.Errorf("session %s data: got %s; want the acknowledged update {\"n\":2}", id, got.Data)
		}
	}
}

// TestFileDurabilityChild is the writing process of TestFileDurability: it
// writes from several goroutines and prints each acknowledged change.
func TestFileDurabilityChild(t *testing.T) {
	path := os.Getenv(durabilityEnv)
	if path == "" {
		t.Skip("runs only as the child process of TestFileDurability")
	}
	store := persistence.NewFile("")
	// A small journal limit makes compactions happen while it is killed.
	if err := store.Configure(container.Config{"path": path, "options": map[string]any{"compact_min_size": 32 << 10}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	ack := func(op, id string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(os.Stdout, op, id)
	}
	deadline := time.Now().Add(time.Minute)
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				s := sessionN(int(next.Add(1)))
				if _, err := store.Create(context.Background(), s); err != nil {
					t.Error(err)
					return
				}
				ack("created", s.ID)
				if _, err := store.Update(context.Background(), s.ID, sessions.Update{Data: json.RawMessage(`{"n":2}`)}); err != nil {
					t.Error(err)
					return
				}
				ack("updated", s.ID)
				if s.ID[31]%4 == 0 {
					ack("deleting", s.ID)
					if _, err := store.DeleteByID(context.Background(), s.ID); err != nil {
						t.Error(err)
						return
					}
					ack("deleted", s.ID)
				}
			}
		})
	}
	wg.Wait()
	io.WriteString(os.Stderr, "child ran out of time without being killed\n")
}

// BenchmarkCreateParallel measures concurrent opens on each store: 64
// writers on the file store share fsyncs, so it should be far above one
// create per fsync.
func BenchmarkCreateParallel(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) interface {
			Create(context.Context, *sessions.Session) (*sessions.Session, error)
		}
	}{
		{"memory", func(b *testing.B) interface {
			Create(context.Context, *sessions.Session) (*sessions.Session, error)
		} {
			return persistence.NewMemory()
		}},
		{"file", func(b *testing.B) interface {
			Create(context.Context, *sessions.Session) (*sessions.Session, error)
		} {
			store := persistence.NewFile(filepath.Join(b.TempDir(), "sessions.json"))
			if err := store.Open(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := store.Close(context.Background()); err != nil {
					b.Error(err)
				}
			})
			return store
		}},
	}
	for _, st := range stores {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", st.name, writers), func(b *testing.B) {
				store := st.open(b)
				var next atomic.Int64
				b.SetParallelism(max(1, writers/runtimeProcs()))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := store.Create(context.Background(), sessionN(int(next.Add(1)))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func TestAClosedFileStoreOpenedAgainHoldsWhatIsOnDiskThen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	store := openFile(t, filepath.Join(dir, "sessions.json"), nil)
	create(t, store, []int{1})
	if _, err := store.SetHome(t.Context(), &sessions.Home{ID: "home-1", MaxSessions: 2, Policy: sessions.PolicyDeny}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, store)
	// The files are moved away, as an operator restoring a backup would.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	if err := store.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetOneByID(t.Context(), sessionN(1).ID); err != nil || got != nil {
		t.Errorf("session: got %v, %v; want none, the files holding none", got, err)
	}
	if got, err := store.GetHome(t.Context(), "home-1"); err != nil || got != nil {
		t.Errorf("home: got %+v, %v; want none, the files holding none", got, err)
	}
}
