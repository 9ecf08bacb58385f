// Command conformance checks an MQTT broker against the MQTT 3.1.1 and 5.0
// specifications, statement by statement:
//
//	conformance --broker tcp://127.0.0.1:1883 [--version 3|5] [--only PATTERN]
//
// It is the same command as `plume conformance`, for people who do not run
// Plume.
package main

import (
	"os"

	"github.com/plumemq/plume/conformance"
)

func main() {
	os.Exit(conformance.Main(os.Args[1:], os.Stdout, os.Stderr))
}
