package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// The load generator reaches a broker over TCP by default; an address with a
// scheme picks another transport, as `plume conformance --broker` does:
//
//	127.0.0.1:1883, tcp://127.0.0.1:1883   plain TCP
//	tls://127.0.0.1:8883                   TLS (-ca, and -cert/-key for mutual TLS)
//	ws://127.0.0.1:8080/mqtt               MQTT over WebSockets (subprotocol mqtt)
//	wss://127.0.0.1:8443/mqtt              the same over TLS
//
// clientTLS is the TLS configuration of tls:// and wss:// addresses, set once
// from the command line (tlsFlags) before any connection is made.
var clientTLS = &tls.Config{}

// tlsFlags registers -ca, -cert and -key on fs; the returned function, called
// after fs.Parse, loads the files into clientTLS.
func tlsFlags(fs *flag.FlagSet) func() error {
	ca := fs.String("ca", "", "PEM file of the CA that signed the broker's certificate (tls:// and wss:// addresses)")
	cert := fs.String("cert", "", "client certificate, PEM, for mutual TLS (with -key)")
	key := fs.String("key", "", "the client certificate's private key, PEM")
	return func() error {
		c, err := loadClientTLS(*ca, *cert, *key)
		if err != nil {
			return err
		}
		clientTLS = c
		return nil
	}
}

// loadClientTLS builds a client configuration trusting the CA in caFile (the
// system's roots if empty), presenting certFile/keyFile if given.
func loadClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no PEM certificate in it", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert/-key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// dialBroker opens a connection to addr (see above), with the TLS handshake
// or WebSocket upgrade done, within timeout.
func dialBroker(addr string, timeout time.Duration) (net.Conn, error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		scheme, rest = "tcp", addr
	}
	d := &net.Dialer{Timeout: timeout}
	switch scheme {
	case "tcp":
		return d.Dial("tcp", rest)
	case "tls":
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c := clientTLS.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(rest)
		}
		return (&tls.Dialer{NetDialer: d, Config: c}).DialContext(ctx, "tcp", rest)
	case "ws", "wss":
		if _, err := url.Parse(addr); err != nil {
			return nil, fmt.Errorf("address %q: %w", addr, err)
		}
		wd := websocket.Dialer{
			NetDial:          d.Dial,
			TLSClientConfig:  clientTLS.Clone(),
			HandshakeTimeout: timeout,
			Subprotocols:     []string{"mqtt"},
			// Small buffers: the idle scenario holds thousands of these.
			ReadBufferSize: 512, WriteBufferSize: 512,
		}
		ws, resp, err := wd.Dial(addr, nil)
		if err != nil {
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
			}
			return nil, err
		}
		if ws.Subprotocol() != "mqtt" {
			_ = ws.Close()
			return nil, fmt.Errorf("%s: the broker chose subprotocol %q, want mqtt", addr, ws.Subprotocol())
		}
		return &wsConn{ws: ws}, nil
	}
	return nil, fmt.Errorf("address %q: unknown scheme %q (want tcp, tls, ws or wss)", addr, scheme)
}

// wsConn is a WebSocket connection read and written as a byte stream: each
// Write is one binary message, and Read runs on across message boundaries,
// since an MQTT packet may span messages or share one with others.
type wsConn struct {
	ws *websocket.Conn
	r  io.Reader // the message being read, nil between messages
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: got a message of type %d, MQTT uses binary messages only", typ)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error                       { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
