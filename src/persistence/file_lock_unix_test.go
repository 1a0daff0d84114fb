//go:build unix

package persistence_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/persistence"
)

// A backup that was killed leaves its temporary folder; the next backup to
// the same file removes it, but not the folder of a backup still running.
func TestABackupRemovesTheFoldersOfBackupsThatWereKilled(t *testing.T) {
	store := openFile(t, filepath.Join(t.TempDir(), "sessions.dat"), nil)
	create(t, store, seq(1, 3))
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.dat")
	killed, running := filepath.Join(dir, ".backup.dat.backup-1"), filepath.Join(dir, ".backup.dat.backup-2")
	for _, d := range []string{killed, running} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "sessions.dat"), []byte("a copy"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(running, "backup.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	if err := store.Backup(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed backup's folder: got %v; want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(running, "sessions.dat")); err != nil {
		t.Errorf("the running backup's folder: got %v; want it kept", err)
	}
	assertStored(t, restore(t, dst), seq(1, 3), 0)
}

// A restore run by root leaves the restored file to the replaced one's
// owner, the service's user, who could not read it otherwise.
func TestARestoredFileHasTheReplacedOnesOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root gives files to other users")
	}
	store, path, dst := backedUp(t, 3)
	mustClose(t, store) // a clean stop leaves the snapshot
	crashed := crashCopy(t, path)
	const nobody = 65534
	if err := os.Chown(crashed, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := persistence.NewFile(crashed).Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
		t.Errorf("owner: got %d:%d; want %d:%d, the replaced file's", st.Uid, st.Gid, nobody, nobody)
	}
}

// Root restoring into a new store makes the lock file and the snapshot the
// folder owner's, the service's user, who could not open them otherwise.
func TestARestoreByRootIntoANewStoreLeavesItToTheFoldersOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root gives files to other users")
	}
	_, _, dst := backedUp(t, 3)
	dir := t.TempDir()
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a", "b", "sessions.dat") // folders the restore makes
	if err := persistence.NewFile(path).Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + ".lock", filepath.Dir(path), filepath.Join(dir, "a")} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s: owner %d:%d; want %d:%d, the folder's", filepath.Base(name), st.Uid, st.Gid, nobody, nobody)
		}
	}
}
