// Package conformancetest runs the conformance suite inside a Go test. It is
// the only part of the suite that imports package testing, so that the
// broker binary, which runs the suite as `plume conformance`, links none of
// it (see cmd/plume's TestBinaryLinksNoTestCode).
package conformancetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/plumemq/plume/conformance"
)

// Subtests runs the suite inside a Go test, one subtest per case and version
// (v5/QoS1Flow, v4/QoS1Flow, ...), so that a broker's own tests can run it
// against an instance they start:
//
//	conformancetest.Subtests(t, conformance.Options{Broker: "tcp://" + addr}, nil)
//
// Failures of statements in known (as conformance.ReadExpected reads them)
// are logged instead of failed.
func Subtests(t *testing.T, o conformance.Options, known map[string]bool) {
	t.Helper()
	byTest := map[string][]conformance.Result{}
	var order []string
	for _, r := range conformance.Run(context.Background(), o, nil) {
		name := fmt.Sprintf("v%d/%s", r.Version, r.Test)
		if _, ok := byTest[name]; !ok {
			order = append(order, name)
		}
		byTest[name] = append(byTest[name], r)
	}
	for _, name := range order {
		rs := byTest[name]
		t.Run(name, func(t *testing.T) {
			var ids []string
			skip := ""
			for _, r := range rs {
				ids = append(ids, r.Statement)
				switch {
				case r.Status == conformance.Fail && r.Listed(known):
					t.Logf("[%s] known deviation: %s", r.Statement, r.Detail)
				case r.Status == conformance.Fail:
					t.Errorf("[%s] %s", r.Statement, r.Detail)
				case r.Status == conformance.Skip:
					skip = r.Detail
				}
			}
			if skip != "" && !t.Failed() {
				t.Skipf("%s: %s", strings.Join(ids, " "), skip)
			}
		})
	}
}
