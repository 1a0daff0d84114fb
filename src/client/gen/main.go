// Command gen writes the generated part of the Go client SDK from the
// command definitions of the controller: the API interfaces, the argument
// structs and the HTTP and in-process implementations.
//
// It runs from the client package with go generate:
//
//	//go:generate go run ./gen
//
// and takes -out to write somewhere else (the staleness test uses it).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sessionsd/service-sessions-go/src/logic"
)

func main() {
	out := flag.String("out", ".", "directory to write "+FileName+" into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "client gen:", err)
		os.Exit(1)
	}
}

// run generates the SDK from the controller's commands into dir.
func run(dir string) error {
	src, err := Generate(logic.NewController(nil, nil).Commands())
	if err != nil {
		return err
	}
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
