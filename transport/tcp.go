package transport

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// TCP is a plain TCP listener.
type TCP struct {
	name, address string
	proxy         bool // connections start with a PROXY protocol header

	mu     sync.Mutex
	ln     net.Listener // nil until Listen
	closed bool         // set by Close: Listen and Serve refuse from then on
}

var _ Listener = (*TCP)(nil)

// NewTCP returns a TCP listener named name for address ("host:port").
func NewTCP(name, address string) *TCP { return &TCP{name: name, address: address} }

// Name is the listener's configured name.
func (t *TCP) Name() string { return t.name }

// Protocol is "tcp".
func (t *TCP) Protocol() string { return "tcp" }

// Address is the bound address after Listen, else the configured one.
func (t *TCP) Address() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln != nil {
		return t.ln.Addr().String()
	}
	return t.address
}

// Listen binds the address.
func (t *TCP) Listen() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return fmt.Errorf("listen tcp %s: %w", t.address, net.ErrClosed)
	case t.ln != nil:
		return nil
	}
	ln, err := net.Listen("tcp", t.address)
	if err != nil {
		return err // "listen tcp ADDR: ...": net's error names the address
	}
	if t.proxy {
		ln = WithProxyProtocol(ln)
	}
	t.ln = ln
	return nil
}

// newTCP is the TCP socket under c's listener, whatever its type: the PROXY
// header, when configured, comes before TLS and HTTP too.
func newTCP(c Config) *TCP {
	t := NewTCP(c.Name, c.Address)
	t.proxy = c.ProxyProtocol
	return t
}

// Serve hands the bound listener to c's accept loop.
func (t *TCP) Serve(c Conns) error {
	ln, err := t.bound()
	if err != nil {
		return err
	}
	return c.Serve(ln, t.name)
}

// bound is the listener Listen opened, for Serve (every type's).
func (t *TCP) bound() (net.Listener, error) {
	t.mu.Lock()
	ln, closed := t.ln, t.closed
	t.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("listener %q: %w", t.name, net.ErrClosed)
	case ln == nil:
		return nil, fmt.Errorf("listener %q: Serve before Listen", t.name)
	}
	return ln, nil
}

// Close stops accepting.
func (t *TCP) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.ln == nil {
		t.closed = true
		return nil
	}
	t.closed = true
	err := t.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil // the broker closed it first, at shutdown
	}
	return err
}
