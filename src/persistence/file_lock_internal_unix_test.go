//go:build unix

package persistence

import (
	"os"
	"path/filepath"
	"testing"
)

// A lock file its holder removed (a restore that fails removes the one it
// made) is no lock: one that opened it before, and locks it after, is told
// so, and lockStore takes the lock on the new file instead.
func TestALockFileItsHolderRemovedIsTakenAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	holder, err := lockStore(path)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := os.Open(path + ".lock") // by a service starting
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	os.Remove(path + ".lock")
	holder.Close()

	if held, err := takeLock(opened, path); held || err != nil {
		t.Errorf("the lock on the removed file: got held %v, %v; want not held", held, err)
	}
	// Nor when another lock file is there by now.
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if held, err := takeLock(opened, path); held || err != nil {
		t.Errorf("the lock on the removed file, another in its place: got held %v, %v; want not held", held, err)
	}
	lock, err := lockStore(path)
	if err != nil {
		t.Fatalf("lock again: %v", err)
	}
	defer lock.Close()
	if _, err := lockStore(path); err == nil {
		t.Error("a second lock on the new file: got it; want it refused")
	}
}
