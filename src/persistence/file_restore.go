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
// into a hidden folder beside them, the new snapshot is renamed over path,
// the folder is renamed to path.replaced-<time>-<n>, and the old journals
// are removed. A crash at any step leaves a store that starts: the old one
// until the rename over path, the restored one after it, whose start
// removes any old journal left (older than its snapshot, it reads as one a
// compaction folded in). The next restore finishes or removes what a
// killed one left.
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
	if err := giveAway(lock.Name(), f.path); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	finishKilledRestores(f.path, f.log)
	tmp, err := os.MkdirTemp(dir, restoreNames(f.path).temp)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	defer func() {
		// It holds a copy of every session's user and data.
		if err := os.RemoveAll(tmp); err != nil {
			f.log.Warn("cannot remove the restore's temporary folder", zap.String("path", tmp), zap.Error(err))
		}
	}()

	restored, sessions, err := prepareRestore(ctx, f.path, src, tmp)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
	}
	gens, err := listJournals(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	hidden, err := linkStoreAside(f.path, gens)
	if err != nil {
		return fmt.Errorf("restore %s: keep the store's files: %w", f.path, err)
	}
	if err := os.Rename(restored, f.path); err != nil {
		return fmt.Errorf("restore %s: %w (the store is as it was; its files are linked in %s too)", f.path, err, hidden)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	aside, err := showAside(f.path, hidden)
	if err != nil {
		return fmt.Errorf("restore %s: the replaced store's files are in %s: %w", f.path, hidden, err)
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

// names is how a restore names its folders beside the store at path: the
// temporary one it loads the backup in, the hidden one it links the
// replaced files into, and the one those are shown in once replaced; each
// a prefix that a time or a random number completes.
type names struct{ temp, hidden, shown string }

func restoreNames(path string) names {
	base := filepath.Base(path)
	return names{temp: "." + base + ".restore-", hidden: "." + base + ".replacing-", shown: base + ".replaced-"}
}

// checkRestoreSource refuses a src that is not a regular snapshot file, or
// that is one of the store's own files, by name or as a link to one.
func checkRestoreSource(path, src string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errors.New("not a backup: not a regular file")
	}
	own := errors.New("it is one of the store's own files")
	if storeDir, err := os.Stat(filepath.Dir(path)); err == nil {
		srcDir, err := os.Stat(filepath.Dir(src))
		base, name := filepath.Base(path), filepath.Base(src)
		if err == nil && os.SameFile(storeDir, srcDir) && (name == base || strings.HasPrefix(name, base+".")) {
			return own
		}
	}
	gens, _ := listJournals(path) // none where there is no store yet
	for _, name := range append([]string{path}, journalNames(path, gens)...) {
		if file, err := os.Stat(name); err == nil && os.SameFile(info, file) {
			return own
		}
	}
	if _, ok := snapshotGen(src); !ok {
		return errors.New("not a backup: a backup is a snapshot file, as --backup writes")
	}
	return nil
}

func journalNames(path string, gens []uint64) []string {
	out := make([]string, len(gens))
	for i, g := range gens {
		out[i] = journalName(path, g)
	}
	return out
}

// finishKilledRestores deals with what restores of the store at path that
// were killed left beside it: their temporary folders go; a hidden folder
// of replaced files goes too if the store's snapshot is still the one it
// links (the restore did not get to replace it), and is shown as replaced
// files otherwise, as the restore would have. The caller holds the store's
// lock, as every restore does, so none of them is running.
func finishKilledRestores(path string, log *zap.Logger) {
	dir, n := filepath.Dir(path), restoreNames(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		switch {
		case !e.IsDir():
		case strings.HasPrefix(e.Name(), n.temp) || strings.HasPrefix(e.Name(), n.hidden) && stillLinked(name, path):
			if err := os.RemoveAll(name); err != nil {
				log.Warn("cannot remove a folder a killed restore left", zap.String("path", name), zap.Error(err))
			}
		case strings.HasPrefix(e.Name(), n.hidden):
			if shown, err := showAside(path, name); err != nil {
				log.Warn("cannot show the replaced files a killed restore left", zap.String("path", name), zap.Error(err))
			} else {
				log.Info("a killed restore left the replaced store's files", zap.String("path", shown))
			}
		}
	}
}

// stillLinked reports whether the folder aside links the snapshot at path.
func stillLinked(aside, path string) bool {
	linked, err := os.Stat(filepath.Join(aside, filepath.Base(path)))
	if err != nil {
		return false
	}
	current, err := os.Stat(path)
	return err == nil && os.SameFile(linked, current)
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
		return "", 0, fmt.Errorf("give the restored file the owner and mode of the store's: %w", err)
	}
	return restored, c.mem.Len(), nil
}

// linkStoreAside links the snapshot at path and the journals gens into a
// new hidden folder beside them, made durable, and returns the folder's
// name; "" when there is no store. Where links cannot be made, the files
// are copied. A store of journals alone gets an empty snapshot there of
// its first journal's generation, which loads as the store does, so that
// the folder is a store a restore can take.
func linkStoreAside(path string, gens []uint64) (string, error) {
	_, err := os.Stat(path)
	snapshot := err == nil
	if !snapshot && len(gens) == 0 {
		return "", nil
	}
	dir := filepath.Dir(path)
	aside, err := os.MkdirTemp(dir, restoreNames(path).hidden+time.Now().UTC().Format("20060102T150405Z")+"-")
	if err != nil {
		return "", err
	}
	names := journalNames(path, gens)
	if snapshot {
		names = append(names, path)
	} else if _, err := writeSnapshot(filepath.Join(aside, filepath.Base(path)), gens[0], nil, nil); err != nil {
		return "", err
	}
	for _, name := range names {
		to := filepath.Join(aside, filepath.Base(name))
		if err := os.Link(name, to); err != nil {
			if err := copyFile(name, to); err != nil {
				return "", err
			}
		}
		if err := giveAway(to, path); err != nil {
			return "", err
		}
	}
	if err := giveAway(aside, path); err != nil {
		return "", err
	}
	if err := syncDir(aside); err != nil {
		return "", err
	}
	return aside, syncDir(dir)
}

// showAside renames the hidden folder of replaced files beside the store at
// path to its shown name, and returns that.
func showAside(path, hidden string) (string, error) {
	if hidden == "" {
		return "", nil
	}
	n := restoreNames(path)
	shown := filepath.Join(filepath.Dir(path), n.shown+strings.TrimPrefix(filepath.Base(hidden), n.hidden))
	if err := os.Rename(hidden, shown); err != nil {
		return "", err
	}
	return shown, syncDir(filepath.Dir(path))
}
