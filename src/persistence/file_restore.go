package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Restore puts the backup at src in place of the store, on which no
// service may be running. src is a snapshot file, as Backup writes, the
// snapshot of a store, whose journals beside it count too, or a Node
// sessions file.
//
// It works in a folder of its own beside the store, .<base>.restore-…:
// it loads a copy of src there, which checks every record, and writes it
// as the snapshot "restored", of a generation above every journal of the
// store; it links the store's snapshot and journals into "replaced" there
// (built under another name and renamed, so that it exists only whole);
// then it renames "restored" over path, which is the restore, shows
// "replaced" beside the store as path.replaced-<time>-<n>, removes the old
// journals and its folder. A crash at any step leaves a store that
// starts: the old one until the rename over path, the restored one after
// it, whose start removes any old journal left (older than its snapshot,
// it reads as one a compaction folded in). Whoever opens the store next,
// a service or a restore, finishes what a killed restore left: its folder
// still holding "restored" means the store was not replaced, and goes;
// otherwise its "replaced" files are shown. A folder is renamed before it
// is removed, so that one removed only in part never reads as a restore
// that replaced the store.
func (f *File) Restore(ctx context.Context, src string) error {
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	if err := checkRestoreSource(f.path, src); err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
	}
	dir := filepath.Dir(f.path)
	made, err := makeFolder(dir)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	lock, madeLock, err := lockStoreMade(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: stop the service first: %w", f.path, err)
	}
	defer lock.Close()
	committed, shown := false, false
	defer func() {
		// While the lock is held, so that no service is using them: a
		// restore that failed leaves no lock file nor folder it made.
		if !committed {
			unmake(f.path, made, madeLock, f.log)
		}
	}()
	if err := giveAway(lock.Name(), f.path); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	work, err := makeRestoreFolder(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	defer func() { endRestore(f.path, work, committed && !shown, f.log) }()

	sessions, err := prepareRestore(ctx, f.path, src, work)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", f.path, src, err)
	}
	finishKilledRestores(f.path, work, f.log)
	gens, err := listJournals(f.path)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	if err := linkStoreAside(f.path, gens, work); err != nil {
		return fmt.Errorf("restore %s: keep the store's files: %w", f.path, err)
	}
	if err := os.Rename(filepath.Join(work, "restored"), f.path); err != nil {
		return fmt.Errorf("restore %s: %w", f.path, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore %s: restored, but %w; the next start shows the replaced files", f.path, err)
	}
	aside, err := showReplaced(f.path, work)
	if aside != "" {
		shown = true
	}
	switch {
	case err != nil && shown:
		return fmt.Errorf("restore %s: restored, and the replaced store's files are in %s, but: %w", f.path, aside, err)
	case err != nil:
		return fmt.Errorf("restore %s: restored, but the replaced store's files stay in %s, for the next start to show: %w",
			f.path, filepath.Join(work, "replaced"), err)
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

// makeFolder makes the folder dir with its parents, and returns the
// outermost one it made, "" when dir was there. Run by root, it gives the
// folders it makes the owner of the folder they are made in.
func makeFolder(dir string) (string, error) {
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		made = append(made, d)
	}
	if len(made) == 0 {
		return "", nil
	}
	outermost := made[len(made)-1]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return outermost, err
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := giveAwayAs(made[i], filepath.Dir(outermost)); err != nil {
			return outermost, err
		}
	}
	return outermost, nil
}

// unmake removes what a failed restore of the store at path made: the
// lock file, when madeLock, and the folders from the store's up to made,
// the outermost one it made, each only if empty, so that nothing anyone
// else put there goes. A service that opened the lock file meanwhile finds
// it gone once it has the lock, and takes it again (see lockStore).
func unmake(path, made string, madeLock bool, log *zap.Logger) {
	if madeLock {
		if err := os.Remove(path + ".lock"); err != nil && !os.IsNotExist(err) {
			log.Warn("cannot remove the lock file a failed restore made", zap.String("path", path+".lock"), zap.Error(err))
		}
	}
	if made == "" {
		return
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if os.Remove(d) != nil || d == made {
			return
		}
	}
}

// restorePrefix starts the name of a restore's folder beside the store at
// path; a time and a random number complete it.
func restorePrefix(path string) string { return "." + filepath.Base(path) + ".restore-" }

// makeRestoreFolder makes the folder of a restore of the store at path,
// the store owner's: made under a name that says it is to go, given away,
// then renamed, so that root killed between leaves nothing a service of
// another user cannot remove.
func makeRestoreFolder(path string) (string, error) {
	dir, prefix := filepath.Dir(path), restorePrefix(path)
	made, err := os.MkdirTemp(dir, prefix+dropped+time.Now().UTC().Format("20060102T150405Z")+"-")
	if err != nil {
		return "", err
	}
	work := filepath.Join(dir, prefix+strings.TrimPrefix(filepath.Base(made), prefix+dropped))
	if err := giveAway(made, path); err != nil {
		os.Remove(made)
		return "", err
	}
	if err := os.Rename(made, work); err != nil {
		os.Remove(made)
		return "", err
	}
	return work, nil
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
	if storeFileName(path, src) {
		return own
	}
	gens, _ := listJournals(path) // none where there is no store yet
	for _, name := range append([]string{path}, journalNames(path, gens)...) {
		if file, err := os.Stat(name); err == nil && os.SameFile(info, file) {
			return own
		}
	}
	return isStoreFile(src)
}

// isStoreFile refuses a file that is neither a snapshot nor a Node
// sessions file (a JSON array).
func isStoreFile(name string) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(fh, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte(snapshotMagic)) || bytes.HasPrefix(afterBlanks(head), []byte("[")) {
		return nil
	}
	return errors.New("not a backup: a backup is a snapshot file, as --backup writes, or a Node sessions file")
}

func journalNames(path string, gens []uint64) []string {
	out := make([]string, len(gens))
	for i, g := range gens {
		out[i] = journalName(path, g)
	}
	return out
}

// finishKilledRestores finishes what restores of the store at path that
// were killed left beside it, but the folder own: a restore's folder that
// still holds "restored" never replaced the store, and goes; one that does
// not, but holds "replaced", did, and its replaced files are shown as the
// restore would have shown them. A folder whose state it cannot read is
// left as it is. The caller holds the store's lock, as every restore and
// every open does, so none of them is running.
func finishKilledRestores(path, own string, log *zap.Logger) {
	if !locksHold {
		return // without the lock, another restore may be running
	}
	dir, prefix := filepath.Dir(path), restorePrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		work := filepath.Join(dir, e.Name())
		// Another store's restore folder, .<base>.restore-x.restore-…, has
		// a dot in the rest; this store's has a time and a number.
		if !ok || !e.IsDir() || strings.Contains(rest, ".") || e.Name() == filepath.Base(own) {
			continue
		}
		if strings.HasPrefix(rest, dropped) {
			removeAll(work, log) // the rest of a drop that was cut short
			continue
		}
		restored, err := exists(filepath.Join(work, "restored"))
		if restored && sameFile(filepath.Join(work, "restored"), path) {
			// The rename over path was done, but the power went before the
			// folder lost the old name: the store was replaced.
			restored, err = false, os.Remove(filepath.Join(work, "restored"))
		}
		var replaced bool
		if err == nil {
			replaced, err = exists(filepath.Join(work, "replaced"))
		}
		switch {
		case err != nil:
			log.Warn("cannot tell what a killed restore left; it stays", zap.String("path", work), zap.Error(err))
		case restored || !replaced:
			dropRestore(path, work, log)
		default:
			shown, err := showReplaced(path, work)
			if err != nil {
				log.Warn("cannot show the files of a store that a killed restore replaced", zap.String("path", work), zap.Error(err))
				continue
			}
			log.Warn("a restore was killed after it replaced the store; the replaced store's files are shown", zap.String("path", shown))
			dropRestore(path, work, log)
		}
	}
}

// endRestore removes the folder work of a restore of the store at path as
// the restore ends. When the store was replaced but its replaced files not
// yet shown (the restore failed between), the folder holds their only
// copy, for the next open to show: only the copy of the backup goes then.
func endRestore(path, work string, keepReplaced bool, log *zap.Logger) {
	if keepReplaced {
		if ok, err := exists(filepath.Join(work, "replaced")); ok || err != nil {
			removeBackupCopy(work, log) // every session's user and data
			return
		}
	}
	dropRestore(path, work, log)
}

// dropped starts the rest of the name of a restore folder to be removed.
const dropped = "dropped-"

// dropRestore removes the folder work of a restore of the store at path,
// renamed first to a name that says it is to go: removed only in part, it
// could no longer tell whether the store was replaced.
func dropRestore(path, work string, log *zap.Logger) {
	prefix := restorePrefix(path)
	drop := filepath.Join(filepath.Dir(work), prefix+dropped+strings.TrimPrefix(filepath.Base(work), prefix))
	if err := os.Rename(work, drop); err != nil {
		log.Warn("cannot remove a restore's folder", zap.String("path", work), zap.Error(err))
		return
	}
	removeAll(drop, log)
}

// removeBackupCopy removes the copy of the backup from a restore's folder,
// leaving the replaced files there.
func removeBackupCopy(work string, log *zap.Logger) {
	entries, err := os.ReadDir(work)
	if err != nil {
		log.Warn("cannot remove the copy of the backup", zap.String("path", work), zap.Error(err))
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "backup") {
			removeAll(filepath.Join(work, e.Name()), log)
		}
	}
}

func removeAll(name string, log *zap.Logger) {
	if err := os.RemoveAll(name); err != nil {
		log.Warn("cannot remove a restore's files", zap.String("path", name), zap.Error(err))
	}
}

// sameFile reports whether a and b name one file.
func sameFile(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}

// exists reports whether name exists; an error when it cannot tell.
func exists(name string) (bool, error) {
	_, err := os.Stat(name)
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// prepareRestore loads a copy of the store at src in work and writes it as
// the snapshot work/restored, of a generation above every journal and the
// snapshot of the store at path, owned as the store's snapshot is. It
// returns the number of sessions.
func prepareRestore(ctx context.Context, path, src, work string) (int, error) {
	copied := filepath.Join(work, "backup")
	if _, err := copyStore(ctx, src, copied); err != nil {
		return 0, err
	}
	c := NewFile(copied)
	c.log = zap.NewNop()
	st, err := c.load(ctx)
	if err != nil {
		return 0, fmt.Errorf("it does not load (the names below are of a copy, in a folder of the same file names): %w", err)
	}
	gen := st.journal.gen + 1
	if err := st.journal.close(); err != nil {
		return 0, err
	}
	if now, ok := snapshotGen(path); ok {
		gen = max(gen, now+1)
	}
	gens, err := listJournals(path)
	if err != nil {
		return 0, err
	}
	if len(gens) > 0 {
		gen = max(gen, slices.Max(gens)+1)
	}
	restored := filepath.Join(work, "restored")
	if _, err := writeSnapshot(restored, gen, c.mem.snapshot(), c.mem.tables.state()); err != nil {
		return 0, err
	}
	if err := ownAs(restored, path); err != nil {
		return 0, fmt.Errorf("give the restored file the owner and mode of the store's: %w", err)
	}
	return c.mem.Len(), nil
}

// linkStoreAside links the snapshot at path and the journals gens into
// work/replaced, made durable; nothing when there is no store. The folder
// is built under another name and renamed, so that it exists only whole.
// Where links cannot be made, the files are copied. A store of journals
// alone (or beside an empty file) gets an empty snapshot there of its
// first journal's generation,
// which loads as the store does, so that the folder is a store a restore
// can take.
func linkStoreAside(path string, gens []uint64, work string) error {
	snapshot, err := holdsSomething(path)
	if err != nil {
		return err
	}
	if !snapshot && len(gens) == 0 {
		return nil
	}
	partial := filepath.Join(work, "replacing")
	if err := os.Mkdir(partial, 0o700); err != nil {
		return err
	}
	if err := giveAway(partial, path); err != nil {
		return err
	}
	base := filepath.Base(path)
	names := journalNames(path, gens)
	if snapshot {
		names = append(names, path)
	} else if _, err := writeSnapshot(filepath.Join(partial, base), gens[0], nil, nil); err != nil {
		return err
	} else if err := giveAway(filepath.Join(partial, base), path); err != nil {
		return err
	}
	for _, name := range names {
		to := filepath.Join(partial, filepath.Base(name))
		if os.Link(name, to) == nil {
			continue // the store's own file, owner and all
		}
		if err := copyFile(name, to); err != nil {
			return err
		}
		if err := giveAway(to, path); err != nil {
			return err
		}
	}
	if err := syncDir(partial); err != nil {
		return err
	}
	if err := os.Rename(partial, filepath.Join(work, "replaced")); err != nil {
		return err
	}
	return syncDir(work)
}

// holdsSomething reports whether there is a file at path that is not empty
// or blank: those are an empty store, as a missing one (see readBase).
// Anything else, even what no start could read, is kept.
func holdsSomething(path string) (bool, error) {
	info, err := os.Stat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil || info.Size() > 4096 {
		return true, err
	}
	b, err := os.ReadFile(path)
	return !blank(b), err
}

// blank reports whether b is what readBase reads as an empty store.
func blank(b []byte) bool { return len(afterBlanks(b)) == 0 }

// afterBlanks returns b past what readBase skips before a Node file's
// array: a byte order mark at most, then spaces, tabs and line ends.
func afterBlanks(b []byte) []byte {
	return bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
}

// showReplaced moves work/replaced, if any, beside the store at path as
// path.replaced-<the rest of work's name>, and returns that name.
func showReplaced(path, work string) (string, error) {
	replaced := filepath.Join(work, "replaced")
	if _, err := os.Stat(replaced); os.IsNotExist(err) {
		return "", nil
	}
	rest := strings.TrimPrefix(filepath.Base(work), restorePrefix(path))
	shown := path + ".replaced-" + rest
	if err := os.Rename(replaced, shown); err != nil {
		return "", err
	}
	return shown, syncDir(filepath.Dir(path))
}
