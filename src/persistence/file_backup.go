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
	"time"

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
	if err := checkBackupTarget(f.path, dst); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".backup-")
	if err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	defer os.RemoveAll(dir)

	// A stopped store's copy is exact, and what its loading drops is
	// damage, worth the warnings a start would log; a running store's copy
	// ends in the write in flight, which is no news.
	log := f.log
	if running(f.path) {
		log = zap.NewNop()
	}
	copied := filepath.Join(dir, filepath.Base(f.path))
	if err := copyStore(ctx, f.path, copied); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	c := NewFile(copied)
	c.log = log
	st, err := c.load(ctx)
	if err != nil {
		// Named as the store's files: the copy's folder is gone by now.
		return fmt.Errorf("backup %s: the copy of the store does not load: %s", f.path,
			strings.ReplaceAll(err.Error(), copied, f.path))
	}
	gen := st.journal.gen + 1
	if err := st.journal.close(); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
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
		return fmt.Errorf("backup %s: write %s: %w", f.path, dst, err)
	}
	f.log.Info("backed up the file persistence", zap.String("path", f.path), zap.String("to", dst),
		zap.Int("sessions", len(list)), zap.Int("table_records", len(tables)), zap.Int64("bytes", size))
	return nil
}

// running reports whether a process holds the store at path open.
func running(path string) bool {
	lock, err := lockStore(path)
	if err != nil {
		return true
	}
	lock.Close()
	return false
}

// checkBackupTarget refuses a dst that is not a new or a regular file, and
// one that names a file of the store at path: in the store's folder,
// however reached, a name that starts with the store's.
func checkBackupTarget(path, dst string) error {
	if info, err := os.Lstat(dst); err == nil && !info.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file; back up to a new file or replace a backup", dst)
	}
	storeDir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return nil // no store there, which copyStore says
	}
	dstDir, err := os.Stat(filepath.Dir(dst))
	if err != nil {
		return err
	}
	base, name := filepath.Base(path), filepath.Base(dst)
	if os.SameFile(storeDir, dstDir) && (name == base || strings.HasPrefix(name, base+".")) {
		return fmt.Errorf("%s would be among the store's own files (%s, %s.*); back up to another name or folder", dst, base, base)
	}
	return nil
}

// errCompacted is a copy of a store that a compaction made stale: a
// journal the copied snapshot needs is gone.
var errCompacted = errors.New("compacted while copied")

// maxCopyAttempts bounds how often copyStore starts again after a
// compaction. A compaction comes at most every time the journal outgrows
// the snapshot, so two in a row during one copy are already rare.
const maxCopyAttempts = 10

// copyStore copies the snapshot at path and the journals that follow it to
// the same names at to.
func copyStore(ctx context.Context, path, to string) error {
	for range maxCopyAttempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		gen, err := copySnapshot(path, to)
		if err != nil {
			return err
		}
		err = copyJournals(path, to, gen)
		if !errors.Is(err, errCompacted) {
			return err
		}
		stale, _ := filepath.Glob(to + ".journal.*")
		for _, name := range stale {
			os.Remove(name)
		}
	}
	return fmt.Errorf("the store was compacted during each of %d attempts to copy it", maxCopyAttempts)
}

// copySnapshot copies the snapshot at path, if there is one, to to, and
// returns the generation of the first journal to replay over it: 0 without
// a snapshot, or with a Node file, which ignores journals.
func copySnapshot(path, to string) (uint64, error) {
	err := copyFile(path, to)
	if errors.Is(err, os.ErrNotExist) {
		if gens, err := listJournals(path); err != nil || len(gens) == 0 {
			return 0, fmt.Errorf("no store there: neither %s nor its journals exist", path)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	fh, err := os.Open(to)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	var hdr [snapshotHeaderSize]byte
	if _, err := io.ReadFull(fh, hdr[:]); err != nil || string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return 0, nil // a Node file, or an empty one; loading tells
	}
	return binary.LittleEndian.Uint64(hdr[8:]), nil
}

// copyJournals copies the journals of the store at path from generation
// gen on to the same names at to, in order. They must run from gen without
// a gap, or errCompacted: a later compaction removed what the snapshot
// copied before needs. None at all is a store stopped cleanly.
func copyJournals(path, to string, gen uint64) error {
	gens, err := listJournals(path)
	if err != nil {
		return err
	}
	next := gen
	for _, g := range gens {
		if g < gen {
			continue // folded into the snapshot
		}
		if g != next {
			return errCompacted
		}
		next++
		err := copyFile(journalName(path, g), journalName(to, g))
		if errors.Is(err, os.ErrNotExist) {
			return errCompacted
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Restore puts the backup at src, a snapshot file such as Backup writes, in
// place of the store, on which no service may be running. It loads a copy
// of src first, which checks every record, then moves the store's snapshot
// and journals into a new folder beside them, path.replaced-<time>-<n>,
// and copies src to path. Nothing is deleted.
func (f *File) Restore(ctx context.Context, src string) error {
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	lock, err := lockStore(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: stop the service first: %w", f.path, err)
	}
	defer lock.Close()
	sessions, err := checkBackupFile(ctx, src, dir)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
	}
	aside, err := moveStoreAside(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	if err := copyFile(src, f.path); err != nil {
		return fmt.Errorf("restore %s: %w; the store's files are in %s", f.path, err, aside)
	}
	f.log.Info("restored the file persistence", zap.String("path", f.path), zap.String("from", src),
		zap.Int("sessions", sessions), zap.String("previous_files", aside))
	return nil
}

// checkBackupFile loads a copy of the snapshot file at src in a temporary
// folder in dir, and returns the number of sessions it holds.
func checkBackupFile(ctx context.Context, src, dir string) (int, error) {
	fh, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	magic := make([]byte, len(snapshotMagic))
	_, err = io.ReadFull(fh, magic)
	fh.Close()
	if err != nil || string(magic) != snapshotMagic {
		return 0, errors.New("not a backup: a backup is a snapshot file, as --backup writes")
	}
	tmp, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	copied := filepath.Join(tmp, "backup")
	if err := copyFile(src, copied); err != nil {
		return 0, err
	}
	c := NewFile(copied)
	c.log = zap.NewNop()
	st, err := c.load(ctx)
	if err != nil {
		return 0, fmt.Errorf("it does not load: %s", strings.ReplaceAll(err.Error(), copied, src))
	}
	if err := st.journal.close(); err != nil {
		return 0, err
	}
	return c.mem.Len(), nil
}

// moveStoreAside moves the snapshot at path and its journals into a new
// folder beside them and returns the folder's name, "" when there are none.
func moveStoreAside(path string) (string, error) {
	gens, err := listJournals(path)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(gens)+1)
	if _, err := os.Stat(path); err == nil {
		names = append(names, path)
	}
	for _, gen := range gens {
		names = append(names, journalName(path, gen))
	}
	if len(names) == 0 {
		return "", nil // no store there yet
	}
	aside, err := os.MkdirTemp(filepath.Dir(path), filepath.Base(path)+".replaced-"+time.Now().UTC().Format("20060102T150405Z")+"-")
	if err != nil {
		return "", err
	}
	for _, name := range names {
		if err := os.Rename(name, filepath.Join(aside, filepath.Base(name))); err != nil {
			return "", fmt.Errorf("move %s aside: %w; the files moved so far are in %s", name, err, aside)
		}
	}
	if err := syncDir(aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(path))
}
