//go:build !unix

package persistence

import "os"

// locksHold says whether lockStore keeps other processes out.
const locksHold = false

// lockStore creates the store's lock file, path.lock. Only Unix systems
// lock it; elsewhere one process per store is up to the operator.
func lockStore(path string) (*os.File, error) {
	return os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
}
