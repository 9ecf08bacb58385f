// Package transport opens the listeners that hand connections to the broker:
// plain TCP here; TLS, mutual TLS and WebSockets build on the same shape.
package transport

import (
	"fmt"
	"net"
)

// Conns is where a listener hands accepted connections; *broker.Broker
// satisfies it.
type Conns interface {
	Serve(l net.Listener, name string) error
}

// ListenTCP opens a TCP listener on addr ("host:port"). The broker serves it
// with Serve.
func ListenTCP(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	return l, nil
}

// IsLoopback reports whether addr's host is a loopback address or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
