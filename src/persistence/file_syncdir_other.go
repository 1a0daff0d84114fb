//go:build !windows

package persistence

import "os"

// syncDir fsyncs a directory, so that the names created, renamed or
// removed in it last through a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
