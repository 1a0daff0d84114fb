package test

import (
	"os"
	"testing"
)

// TestMain runs the suites and then stops the servers they started on
// demand. It starts nothing itself, so a run that needs no database costs
// nothing.
func TestMain(m *testing.M) {
	code := m.Run()
	sharedMongo.shutdown()
	os.Exit(code)
}
