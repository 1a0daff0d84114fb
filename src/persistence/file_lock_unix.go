//go:build unix

package persistence

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// locksHold says whether lockStore keeps other processes out.
const locksHold = true

// lockStore takes an exclusive lock on the store's lock file, path.lock, so
// that a second process cannot open the same store and damage it. The
// system releases the lock when the process ends, however it ends, so a
// crash leaves nothing to clean up.
func lockStore(path string) (*os.File, error) {
	fh, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fh.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another process has this store open: it holds the lock on %s", fh.Name())
		}
		return nil, fmt.Errorf("lock %s: %w", fh.Name(), err)
	}
	return fh, nil
}
