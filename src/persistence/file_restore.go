package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Restore puts the backup at src in place of the store, on which no
// service may be running. src is a snapshot file, as Backup writes, or the
// snapshot of a store, whose journals beside it count too.
//
// A copy of src is loaded first, which checks every record, and written as
// a new snapshot in a temporary folder, of a generation above every
// journal of the store. Then the store's snapshot and journals are linked
// into a new folder beside them, path.replaced-<time>-<n>, the new
// snapshot is renamed over path, and the old journals are removed. A
// crash at any step leaves a store that starts: the old one until the
// rename, the restored one after it, whose start removes any old journal
// left (older than its snapshot, it reads as one a compaction folded in).
func (f *File) Restore(ctx context.Context, src string) error {
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	if err := checkRestoreSource(f.path, src); err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
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
	removeKilledRestores(dir, f.log)
	tmp, err := os.MkdirTemp(dir, restorePrefix)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	defer os.RemoveAll(tmp)

	restored, sessions, err := prepareRestore(ctx, f.path, src, tmp)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
	}
	gens, err := listJournals(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	aside, err := linkStoreAside(f.path, gens)
	if err != nil {
		return fmt.Errorf("restore %s: keep the store's files: %w", f.path, err)
	}
	if err := os.Rename(restored, f.path); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	for _, g := range gens {
		// Older than the new snapshot: a start would remove them too.
		if err := os.Remove(journalName(f.path, g)); err != nil {
			f.log.Warn("cannot remove a journal of the replaced store", zap.String("path", journalName(f.path, g)), zap.Error(err))
		}
	}
	f.log.Info("restored the file persistence", zap.String("path", f.path), zap.String("from", src),
		zap.Int("sessions", sessions), zap.String("previous_files", aside))
	return nil
}

// restorePrefix starts the name of a restore's temporary folder.
const restorePrefix = ".restore-"

// checkRestoreSource refuses a src that is not a regular snapshot file, or
// that is one of the store's own files.
func checkRestoreSource(path, src string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errors.New("not a backup: not a regular file")
	}
	if storeDir, err := os.Stat(filepath.Dir(path)); err == nil {
		srcDir, err := os.Stat(filepath.Dir(src))
		base, name := filepath.Base(path), filepath.Base(src)
		if err == nil && os.SameFile(storeDir, srcDir) && (name == base || strings.HasPrefix(name, base+".")) {
			return errors.New("it is one of the store's own files")
		}
	}
	if _, ok := snapshotGen(src); !ok {
		return errors.New("not a backup: a backup is a snapshot file, as --backup writes")
	}
	return nil
}

// removeKilledRestores removes the temporary folders of restores that were
// killed. The caller holds the store's lock, as every restore does, so no
// other is running.
func removeKilledRestores(dir string, log *zap.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), restorePrefix) {
			name := filepath.Join(dir, e.Name())
			if err := os.RemoveAll(name); err != nil {
				log.Warn("cannot remove the temporary folder of a restore that did not finish", zap.String("path", name), zap.Error(err))
			}
		}
	}
}

// prepareRestore loads a copy of the store at src in tmp and writes it as a
// snapshot in tmp, of a generation above every journal and the snapshot of
// the store at path, owned as the store's snapshot is. It returns the
// snapshot's name and its number of sessions.
func prepareRestore(ctx context.Context, path, src, tmp string) (string, int, error) {
	copied := filepath.Join(tmp, "backup")
	if _, err := copyStore(ctx, src, copied); err != nil {
		return "", 0, err
	}
	c := NewFile(copied)
	c.log = zap.NewNop()
	st, err := c.load(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("it does not load (the names below are of a copy, in a folder of the same file names): %w", err)
	}
	gen := st.journal.gen + 1
	if err := st.journal.close(); err != nil {
		return "", 0, err
	}
	if now, ok := snapshotGen(path); ok {
		gen = max(gen, now+1)
	}
	gens, err := listJournals(path)
	if err != nil {
		return "", 0, err
	}
	if len(gens) > 0 {
		gen = max(gen, slices.Max(gens)+1)
	}
	restored := filepath.Join(tmp, "restored")
	if _, err := writeSnapshot(restored, gen, c.mem.snapshot(), c.mem.tables.state()); err != nil {
		return "", 0, err
	}
	if err := ownAs(restored, path); err != nil {
		return "", 0, fmt.Errorf("give the restored file the owner and mode of the store's (run the restore as the service's user): %w", err)
	}
	return restored, c.mem.Len(), nil
}

// linkStoreAside links the snapshot at path and the journals gens into a
// new folder beside them, made durable, and returns the folder's name; ""
// when there is no store. Where links cannot be made, the files are copied.
func linkStoreAside(path string, gens []uint64) (string, error) {
	names := make([]string, 0, len(gens)+1)
	if _, err := os.Stat(path); err == nil {
		names = append(names, path)
	}
	for _, gen := range gens {
		names = append(names, journalName(path, gen))
	}
	if len(names) == 0 {
		return "", nil
	}
	aside, err := os.MkdirTemp(filepath.Dir(path), filepath.Base(path)+".replaced-"+time.Now().UTC().Format("20060102T150405Z")+"-")
	if err != nil {
		return "", err
	}
	for _, name := range names {
		to := filepath.Join(aside, filepath.Base(name))
		if err := os.Link(name, to); err != nil {
			if err := copyFile(name, to); err != nil {
				return "", err
			}
		}
	}
	if err := syncDir(aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(path))
}
