//go:build unix

package persistence

import (
	"os"
	"path/filepath"
	"syscall"
)

// ownAs gives the file name the mode and, when run by root, the owner of
// the store's snapshot at path, or, without one, mode 0600 and the owner of
// its folder: a restore run by root leaves a file the service's user can
// read.
func ownAs(name, path string) error {
	mode := os.FileMode(0o600)
	ref, err := os.Stat(path)
	if err == nil {
		mode = ref.Mode().Perm()
	} else if ref, err = os.Stat(filepath.Dir(path)); err != nil {
		return err
	}
	if err := os.Chmod(name, mode); err != nil {
		return err
	}
	// Only root gives files away; any other user restores as itself.
	st, ok := ref.Sys().(*syscall.Stat_t)
	if !ok || os.Getuid() != 0 {
		return nil
	}
	return os.Chown(name, int(st.Uid), int(st.Gid))
}
