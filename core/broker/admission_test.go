package broker_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// serveOn serves b on a new loopback listener named name and returns its
// address; wrap, if not nil, wraps the listener (a transport's part).
func serveOn(t *testing.T, b *broker.Broker, name string, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if wrap != nil {
		l = wrap(l)
	}
	go func() { _ = b.Serve(l, name) }()
	return addr
}

// newAdmissionBroker starts a broker with opts, shut down when the test ends.
func newAdmissionBroker(t *testing.T, opts broker.Options) *broker.Broker {
	t.Helper()
	opts.SysInterval = -1
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return b
}

func v311Connect(id string) *packets.Connect {
	return &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V311, CleanStart: true, ClientID: id}
}

func TestListenerMaxConnectionsRefusesWithQuotaExceeded(t *testing.T) {
	b := newAdmissionBroker(t, broker.Options{Listeners: map[string]broker.ListenerPolicy{
		"small": {AllowAnonymous: true, MaxConnections: 2},
		"other": {AllowAnonymous: true},
	}})
	small, other := serveOn(t, b, "small", nil), serveOn(t, b, "other", nil)

	first, _ := connectRaw(t, small, v5Connect("a"))
	connectRaw(t, small, v5Connect("b"))
	if ack := dialRaw(t, small).connect(v5Connect("c")); ack.Reason != packets.QuotaExceeded {
		t.Fatalf("third 5.0 client on a listener of 2: CONNACK %v, want quota exceeded", ack.Reason)
	}
	// 3.1.1 has no 0x97: return code 3, Server unavailable.
	if ack := dialRaw(t, small).connect(v311Connect("d")); ack.Reason != packets.ServerUnavailable {
		t.Fatalf("third 3.1.1 client: CONNACK %v, want server unavailable (3)", ack.Reason)
	}
	// The limit is the listener's own: another listener still takes clients.
	connectRaw(t, other, v5Connect("e"))
	if got := b.Stats().RefusedLimit; got != 2 {
		t.Fatalf("RefusedLimit = %d, want 2", got)
	}
	// A place freed is a place to take.
	first.disconnect(packets.Success)
	first.expectClosed()
	eventually(t, "the freed place to be taken", func() bool {
		c := dialRaw(t, small)
		if c.connect(v5Connect("f")).Reason != packets.Success {
			return false
		}
		c.disconnect(packets.Success)
		c.expectClosed()
		return true
	})
}

func TestBrokerMaxConnectionsCountsEveryListener(t *testing.T) {
	b := newAdmissionBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxConnections: 2}})
	one, two := serveOn(t, b, "one", nil), serveOn(t, b, "two", nil)
	connectRaw(t, one, v5Connect("a"))
	connectRaw(t, two, v5Connect("b"))
	for _, addr := range []string{one, two} {
		ack := dialRaw(t, addr).connect(v5Connect("c"))
		if ack.Reason != packets.QuotaExceeded {
			t.Fatalf("client over the broker's limit of 2: CONNACK %v, want quota exceeded", ack.Reason)
		}
		if !ack.Properties.Has(packets.PropReasonString) || ack.Properties.ReasonString == "" {
			t.Fatalf("refusal without a reason string: %+v", ack.Properties)
		}
	}
}

// A flood far past the limit is closed unread: it costs neither a goroutine
// waiting for CONNECT nor a CONNACK.
func TestFarOverTheLimitIsClosedUnread(t *testing.T) {
	logs := &logBuffer{}
	b := newAdmissionBroker(t, broker.Options{Log: zerolog.New(logs), AllowAnonymous: true, Limits: broker.Limits{MaxConnections: 1}})
	addr := serveOn(t, b, "flood", nil)
	connectRaw(t, addr, v5Connect("holder"))
	// These wait for a CONNECT, to be told why (the slack past the limit).
	const slack = 64
	for i := 0; i < slack; i++ {
		dialRaw(t, addr)
	}
	eventually(t, "the slack connections to be counted", func() bool { return b.ClientCount() == 1+slack })
	c := dialRaw(t, addr)
	c.expectClosed()
	if got := b.Stats().RefusedLimit; got != 1 {
		t.Fatalf("RefusedLimit = %d, want 1", got)
	}
	if n := len(logs.find("connection closed unread: over the connection limit")); n != 1 {
		t.Fatalf("%d log lines for the connection closed unread, want 1", n)
	}
}

func TestAllowAnonymousIsPerListener(t *testing.T) {
	b := newAdmissionBroker(t, broker.Options{Listeners: map[string]broker.ListenerPolicy{
		"open": {AllowAnonymous: true}, "closed": {},
	}})
	connectRaw(t, serveOn(t, b, "open", nil), v5Connect("a"))
	if ack := dialRaw(t, serveOn(t, b, "closed", nil)).connect(v5Connect("b")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("anonymous client on the closed listener: CONNACK %v, want not authorized", ack.Reason)
	}
}

// identityListener hands out conns whose transport verified a certificate
// with common name cn ("" for a client without one).
type identityListener struct {
	net.Listener
	cn string
}

type identityConn struct {
	net.Conn
	cn string
}

func (c identityConn) TransportInfo() broker.TransportInfo {
	if c.cn == "" {
		return broker.TransportInfo{}
	}
	return broker.TransportInfo{CertSubject: "CN=" + c.cn, CertCommonName: c.cn}
}

func (l identityListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return identityConn{Conn: c, cn: l.cn}, nil
}

// recordingAuth records the clients it sees and denies the username "banned".
type recordingAuth struct {
	hooks.Base
	seen chan hooks.Client
}

func (*recordingAuth) Provides(p hooks.Point) bool {
	return p == hooks.PointAuthenticate || p == hooks.PointLifecycle
}

func (a *recordingAuth) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	if r.Client.Username == "banned" {
		return hooks.AuthResult{Verdict: hooks.Deny}, nil
	}
	return hooks.AuthResult{}, nil // no opinion
}

func (a *recordingAuth) OnConnect(_ context.Context, c *hooks.Client) { a.seen <- *c }

func TestUseIdentityAsUsernameAuthenticatesByCertificate(t *testing.T) {
	auth := &recordingAuth{seen: make(chan hooks.Client, 4)}
	policy := broker.ListenerPolicy{UseIdentityAsUsername: true} // and no anonymous clients
	b := newAdmissionBroker(t, broker.Options{Hooks: auth, Listeners: map[string]broker.ListenerPolicy{
		"device": policy, "nocert": policy, "banned": policy,
	}})
	withCN := func(cn string) func(net.Listener) net.Listener {
		return func(l net.Listener) net.Listener { return identityListener{Listener: l, cn: cn} }
	}

	cp := v5Connect("meter-7")
	cp.Username, cp.HasUsername = "claims-to-be-admin", true
	connectRaw(t, serveOn(t, b, "device", withCN("meter-7")), cp)
	select {
	case c := <-auth.seen:
		if c.Username != "meter-7" || !c.Authenticated || c.Principal != "meter-7" {
			t.Fatalf("client as hooks see it: username %q authenticated %v principal %q; want the certificate's name", c.Username, c.Authenticated, c.Principal)
		}
	case <-ctxWait(t).Done():
		t.Fatal("no OnConnect")
	}
	if ack := dialRaw(t, serveOn(t, b, "nocert", withCN(""))).connect(v5Connect("x")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("client without a certificate: CONNACK %v, want not authorized", ack.Reason)
	}
	// The certificate names the client; a plugin may still refuse it.
	if ack := dialRaw(t, serveOn(t, b, "banned", withCN("banned"))).connect(v5Connect("y")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("certificate a plugin denies: CONNACK %v, want not authorized", ack.Reason)
	}
}

// refusingListener's conns carry a transport refusal, as a failed TLS
// handshake or a bad PROXY header does.
type refusingListener struct{ net.Listener }

type refusingConn struct{ net.Conn }

func (refusingConn) TransportInfo() broker.TransportInfo {
	return broker.TransportInfo{Err: errors.New("TLS handshake: bad certificate")}
}

func (l refusingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return refusingConn{c}, nil
}

func TestTransportRefusalsAreClosedCountedAndLogged(t *testing.T) {
	logs := &logBuffer{}
	b := newAdmissionBroker(t, broker.Options{Log: zerolog.New(logs), AllowAnonymous: true})
	addr := serveOn(t, b, "tls", func(l net.Listener) net.Listener { return refusingListener{l} })
	c := dialRaw(t, addr)
	c.send(v5Connect("a"))
	c.expectClosed()
	eventually(t, "the refusal to be counted", func() bool { return b.Stats().TransportRefused == 1 })
	lines := logs.find("connection refused by its transport")
	if len(lines) != 1 || lines[0]["listener"] != "tls" || lines[0]["error"] != "TLS handshake: bad certificate" {
		t.Fatalf("log lines %v, want one naming the listener and the error", lines)
	}
}
