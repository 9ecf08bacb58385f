package conformance_test

import (
	"testing"

	"github.com/plumemq/plume/conformance"
	"github.com/plumemq/plume/conformance/conformancetest"
	f "github.com/plumemq/plume/conformance/internal/testflags"
	"github.com/plumemq/plume/conformance/wire"
)

// TestBroker runs the whole suite against -broker, one subtest per case and
// version.
func TestBroker(t *testing.T) {
	if *f.Broker == "" {
		t.Skip("no -broker given; run: go test ./conformance/... -broker tcp://HOST:PORT")
	}
	o := conformance.Options{Broker: *f.Broker, DeniedTopic: *f.DeniedTopic, ServerKeepAlive: *f.ServerKeepAlive,
		SendsTopicAliases: *f.SendsTopicAliases, Only: *f.Only, RefusedClientID: *f.RefusedClientID, RefusedUsername: *f.RefusedUsername}
	if *f.CAFile != "" {
		conf, err := wire.LoadCA(*f.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		o.TLS = conf
	}
	switch *f.Version {
	case "3", "4", "3.1.1":
		o.Versions = []byte{4}
	case "5":
		o.Versions = []byte{5}
	}
	known, err := conformance.ReadExpected(*f.ExpectFail)
	if err != nil {
		t.Fatal(err)
	}
	conformancetest.Subtests(t, o, known)
}
