package transport_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/plumemq/plume/conformance/wire"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/transport"
)

// startWS serves a broker made with opts on a listener made from c (type,
// and for wss the certificate files, set by the caller) and returns the
// listener and the broker. Cleanup shuts both down.
func startWS(t *testing.T, c transport.Config, opts broker.Options) (transport.Listener, *broker.Broker) {
	t.Helper()
	opts.AllowAnonymous = true
	c.Name = "web"
	return serve(t, c, opts)
}

// wsURL is the URL a client dials for l.
func wsURL(l transport.Listener, path string) string {
	return l.Protocol() + "://" + l.Address() + path
}

// dialer trusts p's CA, or the system's roots when p is nil.
func dialer(t *testing.T, p *pki) wire.Dialer {
	t.Helper()
	if p == nil {
		return wire.Dialer{}
	}
	conf, err := wire.LoadCA(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Dialer{TLS: conf}
}

// connectWire dials url and completes a 5.0 CONNECT as id.
func connectWire(t *testing.T, d wire.Dialer, url, id string) *wire.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := d.Dial(ctx, url, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send(t, c, wire.Connect{Version: 5, ClientID: id, CleanStart: true}.Encode())
	if ack := expect(t, c, wire.CONNACK); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK reason %#x", ack.ReasonCode)
	}
	return c
}

func send(t *testing.T, c *wire.Conn, b []byte) {
	t.Helper()
	if err := c.Write(b, wait); err != nil {
		t.Fatal(err)
	}
}

// expect reads the next packet, which must be of type typ.
func expect(t *testing.T, c *wire.Conn, typ byte) *wire.Packet {
	t.Helper()
	p, err := c.Read(wait)
	if err != nil {
		t.Fatalf("waiting for %s: %v", wire.TypeName(typ), err)
	}
	if p.Type != typ {
		t.Fatalf("got %s, want %s", p, wire.TypeName(typ))
	}
	return p
}

// subscribe subscribes c to filter at QoS 1 and waits for the SUBACK.
func subscribe(t *testing.T, c *wire.Conn, filter string) {
	t.Helper()
	send(t, c, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: filter, Options: 1}}}.Encode(5))
	if ack := expect(t, c, wire.SUBACK); len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
}

// wsCases are the two WebSocket listener types, wss with a test CA.
func wsCases(t *testing.T) []struct {
	name string
	cfg  transport.Config
	pki  *pki
} {
	p := newPKI(t)
	return []struct {
		name string
		cfg  transport.Config
		pki  *pki
	}{
		{"ws", transport.Config{Type: "ws"}, nil},
		{"wss", transport.Config{Type: "wss", CertFile: p.certFile, KeyFile: p.keyFile}, p},
	}
}

func TestWSPublishSubscribe(t *testing.T) {
	for _, tc := range wsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := startWS(t, tc.cfg, broker.Options{})
			if l.Protocol() != tc.name {
				t.Fatalf("Protocol() = %q, want %q", l.Protocol(), tc.name)
			}
			d := dialer(t, tc.pki)
			sub := connectWire(t, d, wsURL(l, "/mqtt"), "sub")
			subscribe(t, sub, "over/"+tc.name)
			pub := connectWire(t, d, wsURL(l, "/mqtt"), "pub")
			payload := []byte("hello over " + tc.name)
			send(t, pub, wire.Publish{Topic: "over/" + tc.name, QoS: 1, PacketID: 7, Payload: payload}.Encode(5))
			if ack := expect(t, pub, wire.PUBACK); ack.PacketID != 7 {
				t.Fatalf("PUBACK for %d, want 7", ack.PacketID)
			}
			got := expect(t, sub, wire.PUBLISH)
			if got.Topic != "over/"+tc.name || !bytes.Equal(got.Payload, payload) {
				t.Fatalf("received %q on %q", got.Payload, got.Topic)
			}
			if !strings.HasPrefix(l.Address(), "127.0.0.1:") {
				t.Fatalf("Address() = %q", l.Address())
			}
		})
	}
}
