package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// Backup writes a copy of the store to dst as one snapshot file, while a
// service may be running on the store and changing it. A store restored
// from that file (see the README) holds the sessions, homes, devices and
// quota places of one moment: every change acknowledged before Backup
// started, and none half applied.
//
// The store's files are copied into a temporary folder beside dst, the
// journals first and the snapshot last. That order is what makes the copy
// whole: a compaction that runs meanwhile folds journals into a snapshot
// before it removes them, so a journal missing from the copy is held by
// the later snapshot; a journal is only ever appended to, so its copy is a
// prefix of it, and a write the copy cut short is a torn tail, dropped as
// a crash's. The copy is then loaded as a start-up would load it, which
// also checks every record, and written out as a snapshot of a generation
// above its journals'.
func (f *File) Backup(ctx context.Context, dst string) error {
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	if err := checkBackupTarget(f.path, dst); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".")
	if err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	defer os.RemoveAll(dir)

	copied := filepath.Join(dir, filepath.Base(f.path))
	if err := copyJournals(f.path, copied); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	if err := copySnapshot(f.path, copied); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	c := NewFile(copied)
	c.log = zap.NewNop() // a torn tail is what a copy of a running store has
	st, err := c.load(ctx)
	if err != nil {
		return fmt.Errorf("backup %s: the copy does not load: %w", f.path, err)
	}
	gen := st.journal.gen + 1
	if err := st.journal.close(); err != nil {
		return fmt.Errorf("backup %s: %w", f.path, err)
	}
	list, tables := c.mem.snapshot(), c.mem.tables.state()
	size, err := writeSnapshot(dst, gen, list, tables)
	if err != nil {
		return fmt.Errorf("backup %s: write %s: %w", f.path, dst, err)
	}
	f.log.Info("backed up the file persistence", zap.String("path", f.path), zap.String("to", dst),
		zap.Int("sessions", len(list)), zap.Int("table_records", len(tables)), zap.Int64("bytes", size))
	return nil
}

// checkBackupTarget refuses a dst that is one of the store's own files.
func checkBackupTarget(path, dst string) error {
	p, err := filepath.Abs(path)
	if err == nil {
		dst, err = filepath.Abs(dst)
	}
	if err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if dst == p || strings.HasPrefix(dst, p+".") {
		return fmt.Errorf("backup %s: %s is a file of the store itself; back up to another name", path, dst)
	}
	return nil
}

// copyJournals copies the journals of the store at path to the same names
// at to, in order.
func copyJournals(path, to string) error {
	gens, err := listJournals(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && len(gens) == 0 {
		return fmt.Errorf("no store there: neither %s nor its journals exist", path)
	}
	for _, gen := range gens {
		err := copyFile(journalName(path, gen), journalName(to, gen))
		if err != nil && !errors.Is(err, os.ErrNotExist) { // compacted since the listing: the snapshot holds it
			return err
		}
	}
	return nil
}

// copySnapshot copies the snapshot at path, if there is one, to to.
func copySnapshot(path, to string) error {
	if err := copyFile(path, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
