package persistence

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// Backup writes a copy of the store to dst as one snapshot file, while a
// service may be running on the store and changing it. A store restored
// from that file (see the README) holds every change acknowledged before
// Backup started, and the store as it was at one moment after that.
//
// The store's files are copied into a temporary folder beside dst: the
// snapshot first, then the journals that follow it. A journal is only
// ever appended to, so its copy, made after the snapshot's, holds every
// change up to the moment the snapshot holds and later ones; a write the
// copy cut short is a torn tail, dropped as a crash's. A compaction that
// removes a journal the snapshot copied needs makes the copy start again.
// The copy is then loaded as a start-up would load it, which also checks
// every record, and written out as a snapshot of a generation above its
// journals'.
func (f *File) Backup(ctx context.Context, dst string) error {
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	if err := f.backup(ctx, dst); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	return nil
}

func (f *File) backup(ctx context.Context, dst string) error {
	if err := checkBackupTarget(f.path, dst); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".backup-")
	if err != nil {
		return err
	}
	defer func() {
		// It holds a copy of every session's user and data.
		if err := os.RemoveAll(dir); err != nil {
			f.log.Warn("cannot remove the backup's temporary folder", zap.String("path", dir), zap.Error(err))
		}
	}()
	// Its lock tells other backups to dst that the folder is in use; the
	// folder of a backup that was killed has none, and goes.
	lock, err := lockStore(filepath.Join(dir, "backup"))
	if err != nil {
		return err
	}
	defer lock.Close()
	removeStaleBackups(dst, dir, f.log)

	copied := filepath.Join(dir, filepath.Base(f.path))
	last, err := copyStore(ctx, f.path, copied)
	if err != nil {
		return err
	}
	c := NewFile(copied)
	c.log = zap.NewNop() // it would name the copy's files; a cut tail is told below
	st, err := c.load(ctx)
	if err != nil {
		return fmt.Errorf("the copy of the store, in a folder of the same file names, does not load: %w", err)
	}
	gen, kept := st.journal.gen+1, st.journal.size
	if err := st.journal.close(); err != nil {
		return err
	}
	if last.name != "" && st.journal.gen == last.gen && last.size > kept {
		f.log.Info("the copy of the last journal ends in a write that is not whole, left out of the backup: the write in flight, if a service runs on the store; else a damaged end, which the service drops at its start too",
			zap.String("journal", last.name), zap.Int64("offset", kept), zap.Int64("bytes", last.size-kept))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Written in the temporary folder, which is this backup's alone, then
	// renamed over dst: two backups to one dst each leave a whole file.
	list, tables := c.mem.snapshot(), c.mem.tables.state()
	out := filepath.Join(dir, "backup")
	size, err := writeSnapshot(out, gen, list, tables)
	if err == nil {
		err = os.Rename(out, dst)
	}
	if err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	f.log.Info("backed up the file persistence", zap.String("path", f.path), zap.String("to", dst),
		zap.Int("sessions", len(list)), zap.Int("table_records", len(tables)), zap.Int64("bytes", size))
	return nil
}

// removeStaleBackups removes the temporary folders beside dst of backups
// to dst that were killed: those whose lock no process holds. Without
// locks that hold, it cannot tell, and leaves them.
func removeStaleBackups(dst, own string, log *zap.Logger) {
	if !locksHold {
		return
	}
	folder, prefix := filepath.Dir(dst), "."+filepath.Base(dst)+".backup-"
	entries, err := os.ReadDir(folder)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := filepath.Join(folder, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || name == own {
			continue
		}
		lock, err := lockStore(filepath.Join(name, "backup"))
		if err != nil {
			continue // in use
		}
		lock.Close()
		if err := os.RemoveAll(name); err != nil {
			log.Warn("cannot remove the temporary folder of a backup that did not finish", zap.String("path", name), zap.Error(err))
			continue
		}
		log.Info("removed the temporary folder of a backup that did not finish", zap.String("path", name))
	}
}

// checkBackupTarget refuses a dst that is not a new or a regular file, and
// one that names a file of the store at path: in the store's folder,
// however reached, a name that starts with the store's.
func checkBackupTarget(path, dst string) error {
	if info, err := os.Lstat(dst); err == nil && !info.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file; back up to a new file or replace a backup", dst)
	}
	if _, err := os.Stat(filepath.Dir(dst)); err != nil {
		return err
	}
	if storeFileName(path, dst) {
		base := filepath.Base(path)
		return fmt.Errorf("%s would be among the store's own files (%s, %s.*); back up to another name or folder", dst, base, base)
	}
	return nil
}

// storeFileName reports whether name is, or would be, among the files of
// the store at path: in its folder, however reached, a name that starts
// with the store's.
func storeFileName(path, name string) bool {
	storeDir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return false
	}
	dir, err := os.Stat(filepath.Dir(name))
	base, file := filepath.Base(path), filepath.Base(name)
	return err == nil && os.SameFile(storeDir, dir) && (file == base || strings.HasPrefix(file, base+"."))
}

// maxCopyAttempts bounds how often copyStore starts again after a
// compaction. A compaction comes at most every time the journal outgrows
// the snapshot, so two in a row during one copy are already rare.
const maxCopyAttempts = 10

// copiedJournal is the last journal of a copy of a store: the store's name
// for it, its generation and the size copied.
type copiedJournal struct {
	name string
	gen  uint64
	size int64
}

// copyStore copies the snapshot at path and the journals that follow it to
// the same names at to, and returns the last journal copied, if any. It
// starts again when a compaction or a stop has made the snapshot a newer
// one meanwhile and the journals copied do not follow the snapshot copied
// without a gap, or there are none. A gap with the same snapshot is what
// the store holds, and loading the copy says what is wrong.
func copyStore(ctx context.Context, path, to string) (copiedJournal, error) {
	for range maxCopyAttempts {
		if err := ctx.Err(); err != nil {
			return copiedJournal{}, err
		}
		gen, err := copySnapshot(path, to)
		if errors.Is(err, errNoStore) {
			if _, ok := snapshotGen(path); ok {
				continue // a store of journals alone stopped meanwhile, and wrote a snapshot
			}
		}
		if err != nil {
			return copiedJournal{}, err
		}
		last, whole, err := copyJournals(path, to, gen)
		if err != nil {
			return last, err
		}
		if now, _ := snapshotGen(path); settled(gen, now, last, whole) {
			return last, nil
		}
		if err := removeCopy(to); err != nil {
			return copiedJournal{}, err
		}
	}
	return copiedJournal{}, fmt.Errorf("the store was compacted during each of %d attempts to copy it", maxCopyAttempts)
}

// settled says whether a copy of the snapshot of generation gen and of the
// journals after it (the last one, and whether they ran without a gap) is
// a copy of the store, whose snapshot is now of generation now; if not, it
// is to start again. Journals copied without a gap, after the snapshot,
// hold its moment and later ones. None is a store stopped cleanly, unless
// it stopped while copied, writing a newer snapshot. A gap is a compaction
// that removed a journal, unless the snapshot is the same: then it is what
// the store holds, and loading the copy says what is wrong.
func settled(gen, now uint64, last copiedJournal, whole bool) bool {
	return whole && last.name != "" || now == gen
}

// removeCopy removes a stale copy of a store at to: its snapshot and journals.
func removeCopy(to string) error {
	gens, err := listJournals(to)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if err := os.Remove(journalName(to, g)); err != nil {
			return err
		}
	}
	if err := os.Remove(to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// errNoStore is a path with neither a snapshot nor journals.
var errNoStore = errors.New("no store there: neither the snapshot nor its journals exist")

// copySnapshot copies the snapshot at path, if there is one, to to, and
// returns the generation of the first journal to replay over it: 0 without
// a snapshot, or with a Node file, which ignores journals.
func copySnapshot(path, to string) (uint64, error) {
	err := copyPlain(path, to)
	if errors.Is(err, os.ErrNotExist) {
		gens, err := listJournals(path)
		if err != nil {
			return 0, err
		}
		if len(gens) == 0 {
			return 0, fmt.Errorf("%s: %w", path, errNoStore)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	gen, _ := snapshotGen(to)
	return gen, nil
}

// snapshotGen reads the generation in the header of the snapshot at name;
// false when name is no snapshot (a Node file, or none).
func snapshotGen(name string) (uint64, bool) {
	fh, err := os.Open(name)
	if err != nil {
		return 0, false
	}
	defer fh.Close()
	var hdr [snapshotHeaderSize]byte
	if _, err := io.ReadFull(fh, hdr[:]); err != nil || string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return 0, false
	}
	return binary.LittleEndian.Uint64(hdr[8:]), true
}

// copyJournals copies the journals of the store at path from generation
// gen on to the same names at to, in order, and returns the last one
// copied. whole is false when they do not run from gen without a gap, as
// when a compaction removed one the snapshot copied needs. None at all is
// whole: a store stopped cleanly.
func copyJournals(path, to string, gen uint64) (last copiedJournal, whole bool, err error) {
	gens, err := listJournals(path)
	if err != nil {
		return last, false, err
	}
	whole = true
	next := gen
	for _, g := range gens {
		if g < gen {
			continue // folded into the snapshot
		}
		whole = whole && g == next
		next = g + 1
		name, copied := journalName(path, g), journalName(to, g)
		err := copyPlain(name, copied)
		if errors.Is(err, os.ErrNotExist) {
			whole = false
			continue
		}
		if err != nil {
			return last, false, err
		}
		info, err := os.Stat(copied)
		if err != nil {
			return last, false, err
		}
		last = copiedJournal{name: name, gen: g, size: info.Size()}
	}
	return last, whole, nil
}

// copyPlain copies the file from to a new file to, in a folder of the
// backup's own: nothing needs it durable.
func copyPlain(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}
