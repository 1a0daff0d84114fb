//go:build unix

package persistence

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on fh without waiting; busy when
// another holds one.
func lockFile(fh *os.File) (busy bool, err error) {
	err = syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK), err
}
