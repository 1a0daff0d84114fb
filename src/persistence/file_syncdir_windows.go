//go:build windows

package persistence

// syncDir does nothing on Windows: a directory cannot be flushed there
// (FlushFileBuffers refuses a directory's handle, which is never open for
// writing), and NTFS journals the changes of names itself.
func syncDir(string) error { return nil }
