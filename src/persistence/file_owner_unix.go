//go:build unix

package persistence

import (
	"os"
	"path/filepath"
	"syscall"
)

// ownAs gives the file name the owner and mode of the store's snapshot at
// path, or, without one, the owner of its folder and mode 0600: a restore
// run by another user (root) leaves a file the service's user can read.
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
	st, ok := ref.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Getuid() && int(st.Gid) == os.Getgid() {
		return nil
	}
	return os.Chown(name, int(st.Uid), int(st.Gid))
}
