package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Subtests runs the suite inside a Go test, one subtest per case and version
// (v5/QoS1Flow, v4/QoS1Flow, ...), so that a broker's own tests can run it
// against an instance they start:
//
//	conformance.Subtests(t, conformance.Options{Broker: "tcp://" + addr}, nil)
//
// Failures of statements in known (keys "5 MQTT-x.y.z-n" or "4 ...", as read
// by ReadExpected) are logged instead of failed.
func Subtests(t *testing.T, o Options, known map[string]bool) {
	t.Helper()
	byTest := map[string][]Result{}
	var order []string
	for _, r := range Run(context.Background(), o, nil) {
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
				case r.Status == Fail && known[key(r.Version, r.Statement)]:
					t.Logf("[%s] known deviation: %s", r.Statement, r.Detail)
				case r.Status == Fail:
					t.Errorf("[%s] %s", r.Statement, r.Detail)
				case r.Status == Skip:
					skip = r.Detail
				}
			}
			if skip != "" && !t.Failed() {
				t.Skipf("%s: %s", strings.Join(ids, " "), skip)
			}
		})
	}
}

// ReadExpected reads a list of known failures: lines of "VERSION ID" (the
// version as 5, 5.0, 4, 3 or 3.1.1), '#' starting a comment. An empty path
// gives an empty list.
func ReadExpected(path string) (map[string]bool, error) { return readExpected(path) }
