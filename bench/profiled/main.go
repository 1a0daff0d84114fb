// Command profiled is the sessions service of bin/ with net/http/pprof
// served on PPROF_ADDR, for the benchmark's -cpuprofile and -heapprofile.
// It is never shipped: the product has no profiling endpoint.
package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/sessionsd/service-sessions-go/src/build"
)

func main() {
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		go func() {
			// The default mux holds only the pprof handlers.
			if err := http.ListenAndServe(addr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "pprof:", err)
			}
		}()
	}
	build.Main()
}
