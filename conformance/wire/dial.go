package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// Dialer opens raw connections to a broker given as a URL:
//
//	tcp://HOST:PORT, mqtt://HOST:PORT or HOST:PORT   plain TCP
//	tls://HOST:PORT, ssl://…, mqtts://…              TLS
//	ws://HOST:PORT[/PATH], wss://…                   MQTT over WebSockets (PATH defaults to /mqtt)
type Dialer struct {
	// TLS configures tls:// and wss://; nil verifies against the system's
	// roots. LoadCA makes one from a CA file.
	TLS *tls.Config
}

// Target is a broker URL taken apart.
type Target struct {
	TLS  bool   // tls://, wss://
	WS   bool   // ws://, wss://
	Addr string // HOST:PORT
	Path string // WebSocket path
}

// ParseBroker reads a broker URL (see Dialer).
func ParseBroker(broker string) (Target, error) {
	scheme, rest, ok := strings.Cut(broker, "://")
	if !ok {
		scheme, rest = "tcp", broker
	}
	var t Target
	switch scheme {
	case "tcp", "mqtt":
	case "tls", "ssl", "mqtts":
		t.TLS = true
	case "ws":
		t.WS = true
	case "wss":
		t.WS, t.TLS = true, true
	default:
		return t, fmt.Errorf("broker %q: scheme %q is not one of tcp, mqtt, tls, ssl, mqtts, ws, wss", broker, scheme)
	}
	t.Addr = rest
	if t.WS {
		u, err := url.Parse("http://" + rest)
		if err != nil {
			return t, fmt.Errorf("broker %q: %w", broker, err)
		}
		t.Addr, t.Path = u.Host, u.EscapedPath()
		if t.Path == "" {
			t.Path = "/mqtt"
		}
		if u.RawQuery != "" {
			t.Path += "?" + u.RawQuery
		}
	} else if strings.ContainsAny(rest, "/?") {
		return t, fmt.Errorf("broker %q: only ws:// and wss:// addresses take a path", broker)
	}
	if _, _, err := net.SplitHostPort(t.Addr); err != nil {
		return t, fmt.Errorf("broker %q: %w", broker, err)
	}
	return t, nil
}

// LoadCA returns a TLS configuration that trusts the PEM certificates in
// file (a test CA, say) instead of the system's roots.
func LoadCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// Dial connects to broker and, for ws:// and wss://, upgrades to a
// WebSocket offering the subprotocol "mqtt" [MQTT-6.0.0-3]. ctx bounds the
// connection, the TLS handshake and the upgrade.
func (d Dialer) Dial(ctx context.Context, broker string, version byte) (*Conn, error) {
	t, err := ParseBroker(broker)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	tcp, _ := raw.(*net.TCPConn)
	nc := raw
	if t.TLS {
		conf := &tls.Config{}
		if d.TLS != nil {
			conf = d.TLS.Clone()
		}
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(t.Addr)
		}
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", t.Addr, err)
		}
		nc = tc
	}
	if t.WS {
		wc, err := upgrade(ctx, nc, t, "mqtt")
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = wc
	}
	return &Conn{nc: nc, tcp: tcp, br: bufio.NewReader(nc), Version: version}, nil
}
