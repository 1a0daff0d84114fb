//go:build !unix && !windows

package persistence

import "os"

// locksHold says whether lockStore keeps other processes out.
const locksHold = false

// lockStore creates the store's lock file, path.lock. Only Unix systems
// and Windows lock it; elsewhere one process per store is up to the
// operator.
func lockStore(path string) (*os.File, error) {
	fh, _, err := lockStoreMade(path)
	return fh, err
}

// lockStoreMade is lockStore, and also reports whether it made the lock
// file.
func lockStoreMade(path string) (*os.File, bool, error) {
	fh, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if os.IsExist(err) {
		fh, err = os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
		return fh, false, err
	}
	return fh, err == nil, err
}
