//go:build unix

package persistence

import (
	"os"
	"path/filepath"
	"syscall"
)

// ownAs gives the file name the mode of the store's snapshot at path, or
// 0600 without one, and its owner as giveAway does.
func ownAs(name, path string) error {
	mode := os.FileMode(0o600)
	if ref, err := os.Stat(path); err == nil {
		mode = ref.Mode().Perm()
	}
	if err := os.Chmod(name, mode); err != nil {
		return err
	}
	return giveAway(name, path)
}

// giveAway gives name, when root runs this, the owner of the store's
// snapshot at path or, without one, of its folder: what root makes for the
// store stays the service's user's to read.
func giveAway(name, path string) error {
	if _, err := os.Stat(path); err != nil {
		path = filepath.Dir(path)
	}
	return giveAwayAs(name, path)
}

// giveAwayAs gives name, when root runs this, the owner of ref. Only root
// gives files away; any other user keeps them.
func giveAwayAs(name, ref string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	info, err := os.Stat(ref)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Lchown(name, int(st.Uid), int(st.Gid))
}
