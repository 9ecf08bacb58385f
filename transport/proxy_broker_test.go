package transport_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/transport"
)

// remoteSeen records the address the broker gives hooks for each client.
type remoteSeen struct {
	hooks.Base
	seen chan string
}

func (r *remoteSeen) Provides(p hooks.Point) bool { return p == hooks.PointLifecycle }

func (r *remoteSeen) OnConnect(_ context.Context, c *hooks.Client) { r.seen <- c.RemoteAddr }

func proxyBroker(t *testing.T) (*remoteSeen, string, *broker.Broker) {
	t.Helper()
	seen := &remoteSeen{seen: make(chan string, 4)}
	l, b := serve(t, transport.Config{Name: "lb", ProxyProtocol: true}, broker.Options{AllowAnonymous: true, Hooks: seen})
	return seen, l.Address(), b
}

// dialWait connects to addr, with every read and write bounded by wait.
func dialWait(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	return conn
}

// Behind a load balancer the broker, its hooks and its logs see the
// client's address from the PROXY header, and the MQTT after it is intact.
func TestProxyProtocolGivesTheClientsAddress(t *testing.T) {
	seen, addr, _ := proxyBroker(t)
	conn := dialWait(t, addr)
	// Header and CONNECT in one write, as a balancer forwards them: nothing
	// of the CONNECT may be lost to the header's reading.
	if _, err := conn.Write(append([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1883\r\n"), connect311...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x, %v", ack, err)
	}
	select {
	case got := <-seen.seen:
		if got != "203.0.113.7:51234" {
			t.Fatalf("hooks see %s, want the proxied 203.0.113.7:51234", got)
		}
	case <-time.After(wait):
		t.Fatal("no OnConnect")
	}
}

// A connection without a valid header never reaches MQTT: it is closed.
func TestProxyProtocolRefusesAConnectionWithoutHeader(t *testing.T) {
	seen, addr, b := proxyBroker(t)
	conn := dialWait(t, addr)
	if _, err := conn.Write(connect311); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(make([]byte, 16)); err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	}
	select {
	case got := <-seen.seen:
		t.Fatalf("a client from %s connected without a PROXY header", got)
	default:
	}
	// The operator sees it: counted ($SYS clients/refused/transport).
	waitFor(t, "the refusal to be counted", func() bool { return b.Stats().TransportRefused == 1 })
}

// On a TLS listener the PROXY header comes first, in clear, then the
// handshake: the broker sees the client's address from the header.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	p := newPKI(t)
	rec := &recorder{seen: make(chan hooks.Client, 1)}
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile, ProxyProtocol: true}, rec)
	raw := dialWait(t, l.Address())
	if _, err := raw.Write([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 8883\r\n")); err != nil {
		t.Fatal(err)
	}
	roots := p.roots()
	c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	roundTrip(t, c, connect311, []byte{0x20, 2, 0, 0})
	select {
	case got := <-rec.seen:
		if got.RemoteAddr != "[2001:db8::7]:40000" {
			t.Fatalf("hooks see %s, want the proxied [2001:db8::7]:40000", got.RemoteAddr)
		}
	case <-time.After(wait):
		t.Fatal("no authenticate call")
	}
}
