//go:build unix || windows

package persistence

import (
	"fmt"
	"os"
)

// locksHold says whether lockStore keeps other processes out.
const locksHold = true

// lockStore takes an exclusive lock on the store's lock file, path.lock, so
// that a second process cannot open the same store and damage it. The
// system releases the lock when the process ends, however it ends, so a
// crash leaves nothing to clean up. (Windows, where no one removes a file
// another has open, never replaces a held lock file.)
//
// A lock file can be removed by the one holding it (a restore that fails
// removes the one it made): a process that opened it before then holds a
// lock on a file no longer there, so the lock is taken again until the
// file locked is the one at path.lock.
func lockStore(path string) (*os.File, error) {
	fh, _, err := lockStoreMade(path)
	return fh, err
}

// lockStoreMade is lockStore, and also reports whether it made the lock
// file.
func lockStoreMade(path string) (*os.File, bool, error) {
	for range 8 {
		made := true
		fh, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if os.IsExist(err) {
			made = false
			fh, err = os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
		}
		if err != nil {
			return nil, false, err
		}
		held, err := takeLock(fh, path)
		if held {
			return fh, made, nil
		}
		fh.Close()
		if err != nil {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("lock %s: the lock file keeps being replaced", path+".lock")
}

// takeLock locks fh, the store's lock file as opened, and reports whether
// it is still the file at path.lock: false when its last holder removed it
// between the opening and the locking.
func takeLock(fh *os.File, path string) (bool, error) {
	if busy, err := lockFile(fh); busy {
		return false, fmt.Errorf("another process has this store open: it holds the lock on %s", fh.Name())
	} else if err != nil {
		return false, fmt.Errorf("lock %s: %w", fh.Name(), err)
	}
	locked, err := fh.Stat()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", fh.Name(), err)
	}
	current, err := os.Stat(path + ".lock")
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", fh.Name(), err)
	}
	return os.SameFile(locked, current), nil
}
