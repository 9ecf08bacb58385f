package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/transport"
)

const wait = 5 * time.Second

// connect311 is an MQTT 3.1.1 CONNECT with clean session, client id "t".
var connect311 = []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 't'}

func TestTCPListenerHandsConnectionsToTheBroker(t *testing.T) {
	b, err := broker.New(broker.Options{AllowAnonymous: true, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := transport.New(transport.Config{Name: "plain", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Protocol() != "tcp" || l.Name() != "plain" {
		t.Fatalf("protocol %q name %q, want tcp and plain", l.Protocol(), l.Name())
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(l.Address(), ":0") {
		t.Fatalf("Address() = %s after Listen, want the bound port", l.Address())
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(b) }()

	conn, err := net.DialTimeout("tcp", l.Address(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write(connect311); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("CONNACK % x, want 20 02 00 00", ack)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, broker.ErrClosed) {
			t.Fatalf("Serve returned %v after shutdown, want broker.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve still running after the broker shut down")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after the broker closed the socket: %v", err)
	}
}

func TestCloseStopsServe(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Shutdown(context.Background()) }()
	l := transport.NewTCP("a", "127.0.0.1:0")
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(b) }()
	addr := l.Address()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve returned %v, want net.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve still running after Close")
	}
	if c, err := net.DialTimeout("tcp", addr, wait); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after Close", addr)
	}
	if err := l.Listen(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Listen after Close: %v, want net.ErrClosed", err)
	}
}

func TestListenOnATakenAddressNamesIt(t *testing.T) {
	first := transport.NewTCP("first", "127.0.0.1:0")
	if err := first.Listen(); err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	err := transport.NewTCP("second", first.Address()).Listen()
	if err == nil || !strings.Contains(err.Error(), first.Address()) {
		t.Fatalf("second Listen on %s: %v, want an error naming the address", first.Address(), err)
	}
}

func TestServeBeforeListenIsAnError(t *testing.T) {
	if err := transport.NewTCP("a", "127.0.0.1:0").Serve(nil); err == nil {
		t.Fatal("Serve before Listen returned nil")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   transport.Config
		want string // "" = valid
	}{
		{"type defaults to tcp", transport.Config{Address: ":1"}, ""},
		{"unknown type names the known ones", transport.Config{Type: "quic", Address: ":1"}, `type: "quic" is not supported (tcp, tls, ws, wss)`},
		{"address required", transport.Config{Type: "tcp"}, "address: required"},
		{"tls needs a certificate", transport.Config{Type: "tls", Address: ":1", KeyFile: "k"}, "cert_file: required for type tls"},
		{"tls needs a key", transport.Config{Type: "tls", Address: ":1", CertFile: "c"}, "key_file: required for type tls"},
		{"tls keys only on tls", transport.Config{Type: "tcp", Address: ":1", CertFile: "c"}, "cert_file: only for types tls and wss (this listener is tcp)"},
		{"client_auth words", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientAuth: "optional"},
			`client_auth: "optional" is not one of none, request, require`},
		{"client_auth needs a CA", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientAuth: "require"},
			`client_auth: "require" needs client_ca_file to verify client certificates against`},
		{"min_version words", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", MinVersion: "1.1"},
			`min_version: "1.1" is not one of 1.2, 1.3`},
		{"max_connections not negative", transport.Config{Address: ":1", MaxConnections: -1},
			"max_connections: must not be negative (use 0 for no limit)"},
		{"identity needs client certificates", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", UseIdentityAsUsername: true},
			"use_identity_as_username: needs verified client certificates: a TLS or WSS listener with client_ca_file (client_auth request or require)"},
		{"identity not on plain tcp", transport.Config{Address: ":1", UseIdentityAsUsername: true},
			"use_identity_as_username: needs verified client certificates: a TLS or WSS listener with client_ca_file (client_auth request or require)"},
		{"identity with a client CA", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca", UseIdentityAsUsername: true}, ""},
		{"ws path defaults", transport.Config{Type: "ws", Address: ":1"}, ""},
		{"wss takes the tls keys", transport.Config{Type: "wss", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca", MinVersion: "1.3"}, ""},
		{"wss needs a certificate", transport.Config{Type: "wss", Address: ":1", KeyFile: "k"}, "cert_file: required for type wss"},
		{"tls keys not on ws", transport.Config{Type: "ws", Address: ":1", KeyFile: "k"}, "key_file: only for types tls and wss (this listener is ws)"},
		{"path only on ws and wss", transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", Path: "/mqtt"},
			"path: only for types ws and wss (this listener is tls)"},
		{"path is absolute", transport.Config{Type: "ws", Address: ":1", Path: "mqtt"}, `path: "mqtt" must start with /`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.in
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want == "" && c.Type == "":
				t.Fatalf("Type after Validate is empty, want tcp")
			case tc.want == "" && (c.Type == "ws" || c.Type == "wss") && c.Path != "/mqtt":
				t.Fatalf("Path after Validate = %q, want /mqtt", c.Path)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	for ca, want := range map[string]string{"": "none", "ca.pem": "require"} {
		c := transport.Config{Type: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: ca}
		if err := c.Validate(); err != nil || c.ClientAuth != want || c.MinVersion != "1.2" {
			t.Errorf("client_ca_file %q: Validate %v, client_auth %q, min_version %q; want %s and 1.2", ca, err, c.ClientAuth, c.MinVersion, want)
		}
	}
	if _, err := transport.New(transport.Config{Name: "x", Type: "websocket", Address: ":1"}); !errors.Is(err, transport.ErrUnknownType) {
		t.Fatalf("New with an unknown type: %v, want ErrUnknownType", err)
	}
}
