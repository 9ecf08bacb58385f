package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/plumemq/plume/conformance/wire"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/internal/testcerts"
	"github.com/plumemq/plume/transport"
)

func TestWSSMutualTLSIdentityReachesHooks(t *testing.T) {
	p := newPKI(t)
	rec := &recorder{seen: make(chan hooks.Client, 1)}
	l, _ := startWS(t, transport.Config{Type: "wss", CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile},
		broker.Options{Hooks: rec})
	dev := p.ca.Issue(t, testcerts.Leaf{CommonName: "browser-7", DNSNames: []string{"browser-7.devices"}, Client: true})
	cert, err := tls.X509KeyPair(dev.CertPEM, dev.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	d := dialer(t, p)
	d.TLS.Certificates = []tls.Certificate{cert}
	connectWire(t, d, wsURL(l, "/mqtt"), "dev")
	c := <-rec.seen // connectWire waited for the CONNACK, after authenticate
	if want := "CN=browser-7,O=plume tests"; c.CertSubject() != want {
		t.Errorf("CertSubject = %q, want %q", c.CertSubject(), want)
	}
	if len(c.CertSANs()) != 1 || c.CertSANs()[0] != "DNS:browser-7.devices" || len(c.CertFingerprint()) != 64 {
		t.Errorf("CertSANs %q, CertFingerprint %q", c.CertSANs(), c.CertFingerprint())
	}
	if c.Listener != "web" {
		t.Errorf("Listener = %q, want web", c.Listener)
	}

	// Without a certificate the handshake fails: no upgrade, no CONNECT.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if conn, err := dialer(t, p).Dial(ctx, wsURL(l, "/mqtt"), 5); err == nil {
		conn.Close()
		t.Fatal("a wss client without a certificate was upgraded by a listener requiring one")
	}
}

// TestWSRemoteAddressIsThePeerOrTheProxys: the broker sees the TCP peer, or
// with proxy_protocol the address its header names; X-Forwarded-For, which
// any client can send, never.
func TestWSRemoteAddressIsThePeerOrTheProxys(t *testing.T) {
	for _, proxied := range []bool{false, true} {
		seen := &remoteSeen{seen: make(chan string, 1)}
		l, _ := startWS(t, transport.Config{Type: "ws", ProxyProtocol: proxied}, broker.Options{Hooks: seen})
		d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, wait)
			if err == nil && proxied {
				_, err = io.WriteString(c, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n")
			}
			return c, err
		}}
		c, _, err := gorillaDial(t, d, l, "/mqtt", []string{"mqtt"}, http.Header{"X-Forwarded-For": {"198.51.100.1"}})
		if err != nil {
			t.Fatalf("proxy_protocol %v: %v", proxied, err)
		}
		connect := wire.Connect{Version: 5, ClientID: "addr", CleanStart: true}.Encode()
		if err := c.WriteMessage(websocket.BinaryMessage, connect); err != nil {
			t.Fatal(err)
		}
		got, want := <-seen.seen, "127.0.0.1:"
		if proxied {
			want = "203.0.113.7:40000"
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("proxy_protocol %v: the broker saw %s, want %s…", proxied, got, want)
		}
	}
}

func TestWSShutdownDisconnectsClientsAndStopsTheListener(t *testing.T) {
	b, err := broker.New(broker.Options{AllowAnonymous: true, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := transport.New(transport.Config{Name: "web", Type: "ws", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(b) }()
	defer l.Close()
	c := connectWire(t, wire.Dialer{}, wsURL(l, "/mqtt"), "stays")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A 5.0 client hears why, then the WebSocket closes.
	if d := expect(t, c, wire.DISCONNECT); d.ReasonCode != 0x8B {
		t.Fatalf("DISCONNECT %#x, want 0x8B (server shutting down)", d.ReasonCode)
	}
	if out, _ := c.ExpectClosed(wait); out != wire.Closed {
		t.Fatal("the WebSocket stayed open after shutdown")
	}
	select {
	case err := <-served:
		if !errors.Is(err, broker.ErrClosed) {
			t.Fatalf("Serve returned %v, want broker.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve still running after the broker shut down")
	}
	// The HTTP server is closed with it: nothing answers any more.
	if conn, err := net.DialTimeout("tcp", l.Address(), wait); err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		_, _ = io.WriteString(conn, "GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
		if n, _ := conn.Read(make([]byte, 1)); n > 0 {
			t.Fatal("the HTTP server still answers after shutdown")
		}
		conn.Close()
	}
}

// TestWSIdleConnectionOutlivesReadDeadlines: the broker wakes an idle
// connection's reader at every park interval and reads on. Over WebSockets
// those wake-ups must not end the connection, as a library's own read
// deadline would.
func TestWSIdleConnectionOutlivesReadDeadlines(t *testing.T) {
	const every = 20 * time.Millisecond
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{ParkIdleAfter: every})
	c := connectWire(t, wire.Dialer{}, wsURL(l, "/mqtt"), "idle")
	time.Sleep(15 * every) // the idleness itself is under test: many wake-ups pass
	send(t, c, []byte{wire.PINGREQ << 4, 0})
	expect(t, c, wire.PINGRESP)
}

func TestWSStalledUpgradeIsClosed(t *testing.T) {
	defer func(d time.Duration) { transport.UpgradeTimeout = d }(transport.UpgradeTimeout)
	transport.UpgradeTimeout = 200 * time.Millisecond
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{})
	for name, send := range map[string]string{"silent": "", "half a request": "GET /mqtt HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.DialTimeout("tcp", l.Address(), wait)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(4 * wait)) // far beyond the upgrade timeout
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open after %s; the upgrade timeout is %s", name, 4*wait, transport.UpgradeTimeout)
		}
		c.Close()
	}
}
