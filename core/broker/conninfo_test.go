package broker_test

import (
	"context"
	"net"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// certConn is what a mutual-TLS transport will hand the broker: a conn that
// knows its peer's verified certificate.
type certConn struct {
	net.Conn
	subject string
}

func (c certConn) TransportInfo() broker.TransportInfo {
	return broker.TransportInfo{CertSubject: c.subject}
}

// certListener wraps every accepted conn as certConn, as tls.NewListener will.
type certListener struct {
	net.Listener
	subject string
}

func (l certListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return certConn{Conn: c, subject: l.subject}, nil
}

// subjectPolicy allows only the client whose transport vouched for "CN=sensor-1".
type subjectPolicy struct{ hooks.Base }

func (subjectPolicy) Provides(p hooks.Point) bool { return p == hooks.PointAuthenticate }

func (subjectPolicy) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	if r.Client.CertSubject() == "CN=sensor-1" {
		return hooks.AuthResult{Verdict: hooks.Allow, Principal: r.Client.CertSubject()}, nil
	}
	return hooks.AuthResult{Verdict: hooks.Deny}, nil
}

func TestTransportInfoReachesTheAuthenticateHook(t *testing.T) {
	b, err := broker.New(broker.Options{Hooks: subjectPolicy{}, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(subject string) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = b.Serve(certListener{Listener: l, subject: subject}, "mtls") }()
		return l.Addr().String()
	}
	vouched, other := serve("CN=sensor-1"), serve("CN=intruder")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})

	c, ack := connectRaw(t, vouched, v5Connect("sensor"))
	if ack.Reason != packets.Success {
		t.Fatalf("client with the vouched certificate: CONNACK %v, want success", ack.Reason)
	}
	c.disconnect(packets.Success)
	if ack := dialRaw(t, other).connect(v5Connect("intruder")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("client with another certificate: CONNACK %v, want not authorized", ack.Reason)
	}
}
