package broker

import (
	"bufio"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// Only a connection that uses them carries the client's rare fields
// (clientRare, docs/decisions/0048): a plain 3.1.1 connection without a
// will, a fleet's idle device, has none; a will or 5.0 (whose topic aliases
// may come at any packet) makes them during the handshake, before the
// session is attached, so that other goroutines may read c.rare unlocked.
// An attached session carries no offline state either.
func TestRarePartOnlyForConnectionsThatUseIt(t *testing.T) {
	b, addr := serveInternal(t, Options{})

	connect := func(cp packets.Connect) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		cp.ProtocolName = "MQTT"
		if _, err := conn.Write(cp.Append(nil, cp.ProtocolVersion)); err != nil {
			t.Fatal(err)
		}
		h, _, err := packets.DecodeFixedHeader(mustPeek(t, bufio.NewReader(conn)))
		if err != nil || h.Type != packets.TypeConnack {
			t.Fatalf("%s: no CONNACK (%v, %v)", cp.ClientID, h.Type, err)
		}
	}
	connect(packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "plain", KeepAlive: 60})
	connect(packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "willed",
		Will: &packets.Will{Topic: "gone/willed", Payload: []byte("offline")}})
	connect(packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "five"})
	props := packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "five-props"}
	props.Properties.User = []packets.UserProperty{{Key: "fw", Value: "1.2"}}
	connect(props)

	rare := func(id string) (*clientRare, *entry) {
		t.Helper()
		e, ok := b.sessions.load(id)
		if !ok {
			t.Fatalf("%s: no session", id)
		}
		b.mu.Lock() // attach set e.client under it, after the handshake set c.rare
		defer b.mu.Unlock()
		if e.client == nil {
			t.Fatalf("%s: not attached", id)
		}
		return e.client.rare, e
	}
	if r, e := rare("plain"); r != nil || e.off != nil {
		t.Fatalf("a plain 3.1.1 connection carries rare %+v, offline state %+v: every idle device pays for them", r, e.off)
	}
	// Its remote address and client id are one allocation, which its
	// session entry shares, not the CONNECT's body and a string of their
	// own (keepStrings, 0049).
	_, e := rare("plain")
	b.mu.Lock()
	info := e.client.info
	b.mu.Unlock()
	if next := unsafe.Add(unsafe.Pointer(unsafe.StringData(info.RemoteAddr)), len(info.RemoteAddr)); next != unsafe.Pointer(unsafe.StringData(info.ID)) ||
		unsafe.StringData(e.ID) != unsafe.StringData(info.ID) {
		t.Fatalf("a plain connection's remote address %q, client id %q and session id %q are apart: it keeps the CONNECT body and another string", info.RemoteAddr, info.ID, e.ID)
	}
	if r, _ := rare("willed"); r == nil || r.will == nil || r.will.Topic != "gone/willed" {
		t.Fatalf("a connection with a will: rare %+v", r)
	}
	if r, _ := rare("five"); r == nil || r.will != nil {
		t.Fatalf("a 5.0 connection: rare %+v, want one without a will", r)
	}
	// The CONNECT's user properties live in hooks.Credentials (0049): a
	// client that sent none, and no password, carries no Credentials.
	creds := func(id string) *hooks.Credentials {
		t.Helper()
		_, e := rare(id)
		b.mu.Lock()
		defer b.mu.Unlock()
		return e.client.info.Creds
	}
	if cr := creds("five"); cr != nil {
		t.Fatalf("a 5.0 connection without user properties or password carries Credentials %+v", cr)
	}
	if cr := creds("five-props"); cr == nil || len(cr.UserProperties) != 1 || cr.UserProperties[0] != (packets.UserProperty{Key: "fw", Value: "1.2"}) {
		t.Fatalf("a 5.0 connection's user properties: Credentials %+v, want fw=1.2", cr)
	}
}

// mustPeek returns the first bytes of the next packet, once they are there.
func mustPeek(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	p, err := r.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
