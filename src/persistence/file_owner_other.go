//go:build !unix

package persistence

import "os"

// ownAs gives the file name the mode of the store's snapshot at path, or
// 0600 without one; owners are Unix's.
func ownAs(name, path string) error {
	mode := os.FileMode(0o600)
	if ref, err := os.Stat(path); err == nil {
		mode = ref.Mode().Perm()
	}
	return os.Chmod(name, mode)
}

// giveAway does nothing: owners are Unix's.
func giveAway(string, string) error { return nil }

// giveAwayAs does nothing: owners are Unix's.
func giveAwayAs(string, string) error { return nil }
