// Command service-sessions runs the sessions microservice from a config file.
package main

import "github.com/sessionsd/service-sessions-go/src/build"

func main() { build.Main() }
