package main

import (
	"fmt"
	"io"
)

// runConformance is wired to the conformance suite once it lands.
func runConformance(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "plume conformance: not built yet")
	return 2
}
