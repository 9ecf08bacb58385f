package conformance

import (
	"slices"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Cases returns every test case of the suite, grouped by specification
// section in the files cases_*.go.
func Cases() []Case {
	var all []Case
	for _, group := range [][]Case{connectCases, connackCases, publishCases, retainCases, propertyCases,
		subscribeCases, topicCases, sessionCases, willCases, flowCases, miscCases, sharedCases} {
		all = append(all, group...)
	}
	return all
}

// closeWait bounds how long a test waits for the broker to hang up.
const closeWait = 3 * time.Second

// validDisconnectCodes are the DISCONNECT reason codes of MQTT 5.0 table 3-10.
var validDisconnectCodes = []byte{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
	0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}

// validConnackCodes are the CONNACK reason codes of MQTT 5.0 table 3-1.
var validConnackCodes = []byte{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
	0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}

// checkClosing checks what a broker sent while closing a connection: a
// CONNACK or DISCONNECT must carry an error code from its table, nothing may
// follow a DISCONNECT, and a server DISCONNECT carries no Session Expiry.
func checkClosing(t *T, seen []*wire.Packet) {
	for i, p := range seen {
		switch p.Type {
		case wire.CONNACK:
			if t.V >= 5 && t.oldConnackOK && len(p.Body) == 2 && p.ReasonCode == 0x01 {
				// A 3.1.1 refusal of a protocol version the broker does not
				// know: it cannot tell which CONNACK the client would read.
			} else if t.V >= 5 {
				t.Check(slices.Contains(validConnackCodes, p.ReasonCode), "CONNACK with code 0x%02x, not a CONNACK reason code", p.ReasonCode)
				t.Check(p.ReasonCode >= 0x80, "CONNACK with success code 0x%02x before closing", p.ReasonCode)
			} else {
				t.Check(p.ReasonCode != 0, "CONNACK accepting the connection before closing it")
			}
			t.Check(!p.SessionPresent, "refusing CONNACK with Session Present 1")
		case wire.DISCONNECT:
			t.Check(slices.Contains(validDisconnectCodes, p.ReasonCode), "DISCONNECT with code 0x%02x, not a DISCONNECT reason code", p.ReasonCode)
			t.Check(!p.Props.Has(wire.PropSessionExpiry), "server DISCONNECT carries a Session Expiry Interval")
			t.Check(i == len(seen)-1, "packets after the server's DISCONNECT: %v", seen[i+1:])
		}
	}
}

// refuses sends b on a new connection (after a CONNECT when connect is set)
// and expects the broker to close it.
func refuses(t *T, connect bool, b []byte, why string) []*wire.Packet {
	var c *Client
	if connect {
		c = t.Client("c")
	} else {
		c = t.Dial()
	}
	c.Send(b)
	seen := c.ExpectClosed(closeWait, why)
	checkClosing(t, seen)
	return seen
}

// connectRefused sends a CONNECT (raw bytes) and expects the broker to
// refuse it: no CONNACK with success, and the connection closed.
func connectRefused(t *T, b []byte, why string) []*wire.Packet {
	return refuses(t, false, b, why)
}

// props is shorthand for a property list.
func props(ps ...wire.Property) wire.Properties { return ps }
