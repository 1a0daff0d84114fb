package client_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibraryAndSessions keeps the SDK light for its
// users: no HTTP router, logger, database driver or YAML parser, and not
// the service's logic.
func TestImportsOnlyTheStandardLibraryAndSessions(t *testing.T) {
	const module = "github.com/sessionsd/service-sessions-go"
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the SDK's dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	want := []string{module + "/src/client", module + "/src/sessions"}
	if !slices.Equal(got, want) {
		t.Errorf("non-standard dependencies: got %v; want %v", got, want)
	}
}
