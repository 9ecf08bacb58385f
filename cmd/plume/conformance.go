package main

import (
	"io"

	"github.com/plumemq/plume/conformance"
)

// runConformance is `plume conformance`: the conformance suite against any
// broker address (see conformance/README.md).
func runConformance(args []string, stdout, stderr io.Writer) int {
	return conformance.Main(args, stdout, stderr)
}
