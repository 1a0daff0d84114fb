// Command service-sessions runs the sessions microservice from a config file.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := container.Run(ctx, build.Factories(), os.Args[1:], os.Environ())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
