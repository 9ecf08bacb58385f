package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// The PROXY protocol (versions 1 and 2, as HAProxy specifies them): a load
// balancer in front of the broker opens each connection with a header that
// names the client's real address. With `proxy_protocol: true` a listener
// requires it: the broker, its logs, plugins and limits then see the
// client's address, not the balancer's. A connection without a valid header
// is closed before the broker reads a byte of MQTT.
//
// The header is read from the connection itself, byte-exactly, never through
// a buffer: what follows it is MQTT, which the broker reads straight from the
// socket (and parks on it), so not a byte of it may be held back here.

// proxyHeaderTimeout bounds how long a connection may take to send its
// header. A balancer sends it at once; a slow one is not a balancer.
const proxyHeaderTimeout = 10 * time.Second

// v2Signature opens a version 2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1Header is the longest version 1 header, "\r\n" included.
const maxV1Header = 107

// errProxyHeader reports a header that is missing or malformed.
var errProxyHeader = errors.New("PROXY protocol")

// proxyListener wraps a net.Listener whose connections start with a header.
type proxyListener struct{ net.Listener }

// WithProxyProtocol returns ln with every accepted connection expecting a
// PROXY protocol header. Accept does not read it (one slow connection must
// not hold up the accept loop): a connection reads its own header the first
// time it is asked for its address, its socket or its bytes.
func WithProxyProtocol(ln net.Listener) net.Listener { return proxyListener{ln} }

func (l proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c}, nil
}

// proxyConn is a connection that starts with a PROXY header.
type proxyConn struct {
	net.Conn
	once   sync.Once
	remote net.Addr // as the header says; the socket's own for LOCAL or UNKNOWN
	local  net.Addr
	err    error
}

// header reads and checks the header once.
func (c *proxyConn) header() error {
	c.once.Do(func() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
		c.remote, c.local, c.err = readProxyHeader(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Time{})
		if c.remote == nil {
			c.remote = c.Conn.RemoteAddr()
		}
		if c.local == nil {
			c.local = c.Conn.LocalAddr()
		}
		if c.err != nil {
			c.err = fmt.Errorf("%w header from %s: %v", errProxyHeader, c.Conn.RemoteAddr(), c.err)
			_ = c.Conn.Close()
		}
	})
	return c.err
}

func (c *proxyConn) Read(b []byte) (int, error) {
	if err := c.header(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// RemoteAddr is the client's address as the balancer reports it.
func (c *proxyConn) RemoteAddr() net.Addr {
	_ = c.header()
	return c.remote
}

// LocalAddr is the address the client connected to, as the balancer reports it.
func (c *proxyConn) LocalAddr() net.Addr {
	_ = c.header()
	return c.local
}

// TransportInfo tells the broker whether the header was valid: a
// connection without one is refused, counted and logged by the broker.
func (c *proxyConn) TransportInfo() broker.TransportInfo {
	return broker.TransportInfo{Err: c.header()}
}

// SyscallConn gives the broker the socket, after the header: it reads and
// parks on the socket directly.
func (c *proxyConn) SyscallConn() (syscall.RawConn, error) {
	if err := c.header(); err != nil {
		return nil, err
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("no file descriptor")
	}
	return sc.SyscallConn()
}

// CloseWrite half-closes, as the broker does after its last packet.
func (c *proxyConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return errors.New("no half-close")
}

// readProxyHeader reads a version 1 or 2 header from r, byte-exactly. A nil
// address means the header names none (LOCAL, UNKNOWN): use the socket's.
func readProxyHeader(r io.Reader) (remote, local net.Addr, err error) {
	var first [12]byte
	if _, err := io.ReadFull(r, first[:6]); err != nil {
		return nil, nil, err
	}
	if string(first[:6]) == "PROXY " {
		return readV1(r)
	}
	if _, err := io.ReadFull(r, first[6:]); err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(first[:], v2Signature) {
		return nil, nil, errors.New("no header: the connection does not start with one")
	}
	return readV2(r)
}

// readV1 reads the rest of a text header, after "PROXY ", up to "\r\n".
func readV1(r io.Reader) (remote, local net.Addr, err error) {
	line := make([]byte, 0, maxV1Header)
	var b [1]byte
	for {
		if len(line) > maxV1Header-len("PROXY ") {
			return nil, nil, errors.New("v1: longer than 107 bytes")
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, err
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	text, ok := strings.CutSuffix(string(line), "\r")
	if !ok {
		return nil, nil, errors.New("v1: line not ended by CRLF")
	}
	return parseV1(text)
}

// parseV1 parses "TCP4 src dst sport dport", "TCP6 ..." or "UNKNOWN ...".
func parseV1(text string) (remote, local net.Addr, err error) {
	f := strings.Split(text, " ")
	switch {
	case f[0] == "UNKNOWN":
		return nil, nil, nil
	case f[0] != "TCP4" && f[0] != "TCP6":
		return nil, nil, fmt.Errorf("v1: protocol %q", f[0])
	case len(f) != 5:
		return nil, nil, fmt.Errorf("v1: %d fields, want 5", len(f))
	}
	src, dst := net.ParseIP(f[1]), net.ParseIP(f[2])
	if src == nil || dst == nil || (src.To4() != nil) != (f[0] == "TCP4") || (dst.To4() != nil) != (f[0] == "TCP4") {
		return nil, nil, fmt.Errorf("v1: addresses %q %q for %s", f[1], f[2], f[0])
	}
	sport, err1 := port(f[3])
	dport, err2 := port(f[4])
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("v1: %w", err)
	}
	return &net.TCPAddr{IP: src, Port: sport}, &net.TCPAddr{IP: dst, Port: dport}, nil
}

func port(s string) (int, error) {
	// Decimal without sign or leading zeros, as the specification writes it.
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("port %q", s)
	}
	return int(n), nil
}

// readV2 reads the rest of a binary header, after its signature.
func readV2(r io.Reader) (remote, local net.Addr, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, nil, err
	}
	return parseV2(h[0], h[1], body)
}

// parseV2 parses the version/command and family/protocol bytes and the
// address block of a binary header; TLVs after the addresses are skipped.
func parseV2(verCmd, famProto byte, body []byte) (remote, local net.Addr, err error) {
	if verCmd>>4 != 2 {
		return nil, nil, fmt.Errorf("v2: version %d", verCmd>>4)
	}
	switch verCmd & 0xF {
	case 0: // LOCAL: the balancer's own connection (a health check)
		return nil, nil, nil
	case 1: // PROXY
	default:
		return nil, nil, fmt.Errorf("v2: command %d", verCmd&0xF)
	}
	var ipLen int
	switch famProto {
	case 0x11: // TCP over IPv4
		ipLen = 4
	case 0x21: // TCP over IPv6
		ipLen = 16
	case 0x00: // UNSPEC: no address
		return nil, nil, nil
	default:
		return nil, nil, fmt.Errorf("v2: family/protocol %#x is not TCP", famProto)
	}
	if len(body) < 2*ipLen+4 {
		return nil, nil, fmt.Errorf("v2: %d bytes of addresses, want %d", len(body), 2*ipLen+4)
	}
	src := net.IP(bytes.Clone(body[:ipLen]))
	dst := net.IP(bytes.Clone(body[ipLen : 2*ipLen]))
	sport := int(binary.BigEndian.Uint16(body[2*ipLen:]))
	dport := int(binary.BigEndian.Uint16(body[2*ipLen+2:]))
	return &net.TCPAddr{IP: src, Port: sport}, &net.TCPAddr{IP: dst, Port: dport}, nil
}
