package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"

	f "github.com/plumemq/plume/conformance/internal/testflags"
)

// TestBroker runs the whole suite against -broker, one subtest per case and
// version.
func TestBroker(t *testing.T) {
	if *f.Broker == "" {
		t.Skip("no -broker given; run: go test ./conformance/... -broker tcp://HOST:PORT")
	}
	o := Options{Broker: *f.Broker, DeniedTopic: *f.DeniedTopic, ServerKeepAlive: *f.ServerKeepAlive,
		SendsTopicAliases: *f.SendsTopicAliases, Only: *f.Only, RefusedClientID: *f.RefusedClientID, RefusedUsername: *f.RefusedUsername}
	switch *f.Version {
	case "3", "4", "3.1.1":
		o.Versions = []byte{4}
	case "5":
		o.Versions = []byte{5}
	}
	known, err := readExpected(*f.ExpectFail)
	if err != nil {
		t.Fatal(err)
	}
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
			for _, r := range rs {
				ids = append(ids, r.Statement)
			}
			for _, r := range rs {
				switch r.Status {
				case Fail:
					if known[key(r.Version, r.Statement)] {
						t.Logf("[%s] known deviation: %s", r.Statement, r.Detail)
					} else {
						t.Errorf("[%s] %s", r.Statement, r.Detail)
					}
				case Skip:
					t.Skipf("%s: %s", strings.Join(ids, " "), r.Detail)
				}
			}
		})
	}
}
