package broker_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// zerolog writes a duration as a number of milliseconds, which the name
// "connected_for" did not say (issue 12): the field carries its unit.
func TestDisconnectLogNamesTheUnitOfConnectedFor(t *testing.T) {
	logs := &logBuffer{}
	b := newAdmissionBroker(t, broker.Options{Log: zerolog.New(logs), AllowAnonymous: true})
	addr := serveOn(t, b, "tcp", nil)
	c := dialRaw(t, addr)
	c.connect(v5Connect("a"))
	c.send(&packets.Disconnect{})
	c.expectClosed()
	var lines []map[string]any
	eventually(t, "the disconnect to be logged", func() bool { lines = logs.find("client disconnected"); return len(lines) == 1 })
	if _, ok := lines[0]["connected_for_ms"].(float64); !ok {
		t.Fatalf("log line %v: no connected_for_ms", lines[0])
	}
	if _, ok := lines[0]["connected_for"]; ok {
		t.Fatalf("log line %v still has connected_for, with no unit", lines[0])
	}
}
