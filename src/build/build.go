// Package build holds the one table of the product: which descriptor makes
// which component.
package build

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/metrics"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/service"
)

// The log counters serve the HTTP services as the Prometheus ones do.
var (
	_ service.Counters = (*logging.Counters)(nil)
	_ service.Refusals = (*logging.Counters)(nil)
)

// ControllerLocator finds the sessions controller among the references.
var ControllerLocator = container.Descriptor{Group: "service-sessions", Type: "controller", Kind: "default", Name: "*", Version: "1.0"}

// Factories returns the constructors of every component this service
// understands, keyed by descriptor.
func Factories() []container.Factory {
	return []container.Factory{
		{Descriptor: d("pip-services:context-info:default:*:1.0"), New: of(container.NewContextInfo)},
		{Descriptor: d("pip-services:logger:console:*:1.0"), New: of(logging.NewConsole)},
		{Descriptor: d("pip-services:counters:log:*:1.0"), New: of(logging.NewCounters)},
		{Descriptor: d("pip-services:counters:prometheus:*:1.0"), New: func() (any, error) {
			return metrics.NewCounters(ControllerLocator), nil
		}},
		{Descriptor: d("service-sessions:persistence:memory:*:1.0"), New: of(persistence.NewMemory)},
		{Descriptor: d("service-sessions:persistence:file:*:1.0"), New: func() (any, error) { return persistence.NewFile(""), nil }},
		{Descriptor: d("service-sessions:persistence:mongodb:*:1.0"), New: of(persistence.NewMongoDB)},
		{Descriptor: d("service-sessions:controller:default:*:1.0"), New: func() (any, error) { return logic.NewController(nil, nil), nil }},
		{Descriptor: d("pip-services:endpoint:http:*:1.0"), New: of(service.NewEndpoint)},
		{Descriptor: d("service-sessions:service:commandable-http:*:1.0"), New: func() (any, error) {
			return service.NewCommandableHTTP(ControllerLocator), nil
		}},
		{Descriptor: d("service-sessions:service:cloudstate-http:*:1.0"), New: func() (any, error) {
			return service.NewCloudstate(ControllerLocator), nil
		}},
		{Descriptor: d("pip-services:heartbeat-service:http:*:1.0"), New: of(service.NewHeartbeat)},
		{Descriptor: d("pip-services:status-service:http:*:1.0"), New: of(service.NewStatus)},
		{Descriptor: d("pip-services:swagger-service:http:*:1.0"), New: of(service.NewSwagger)},
		{Descriptor: d("pip-services:metrics-service:prometheus:*:1.0"), New: of(metrics.NewService)},
		{Descriptor: d("pip-services:endpoint:grpc:*:1.0"), New: noGRPC},
		{Descriptor: d("service-sessions:service:grpc:*:1.0"), New: noGRPC},
		{Descriptor: d("service-sessions:service:commandable-grpc:*:1.0"), New: noGRPC},
	}
}

func d(s string) container.Descriptor { return container.MustDescriptor(s) }

func of[T any](newT func() T) func() (any, error) {
	return func() (any, error) { return newT(), nil }
}

func noGRPC() (any, error) {
	return nil, fmt.Errorf("gRPC is not supported by this service; use the HTTP endpoint (unset GRPC_ENABLED)")
}

// Main runs the service from the process's arguments and environment until
// SIGINT or SIGTERM (a second one ends the process at once), and exits with
// status 1 on an error. It is the whole of the service's main.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once the first signal starts the shutdown, a second one kills the
	// process as signals do by default, cutting a drain that takes long.
	context.AfterFunc(ctx, stop)
	err := container.Run(ctx, Factories(), os.Args[1:], os.Environ())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
