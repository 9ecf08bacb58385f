package transport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// HandshakeTimeout bounds a TLS handshake: a client that opens a connection
// and never finishes the handshake is closed then, rather than holding its
// goroutine (the broker's CONNECT timeout starts only after it). A listener
// takes the value current when it is made.
var HandshakeTimeout = 10 * time.Second

// TLS is a TCP listener whose connections speak TLS, optionally with client
// certificates (mutual TLS). Its certificates reload without a restart: on
// Reload, which cmd/plume calls on SIGHUP and when the files change. Each handshake
// takes the material current when its ClientHello arrives
// (tls.Config.GetConfigForClient), so connections already open keep theirs.
type TLS struct {
	tcp     *TCP
	cfg     Config
	timeout time.Duration // HandshakeTimeout when made

	cur atomic.Pointer[tlsMaterial] // never nil once Listen succeeded
	// base is what tls.Server gets: it only points at cur, so a reload is
	// one atomic store and needs no lock on the handshake path.
	base *tls.Config

	reloadMu sync.Mutex // one load at a time: SIGHUP and a file watcher may race
}

var _ Listener = (*TLS)(nil)

// NewTLS returns a TLS listener for c, which Validate has accepted; nothing
// is read or bound until Listen.
func NewTLS(c Config) *TLS {
	t := &TLS{tcp: newTCP(c), cfg: c, timeout: HandshakeTimeout}
	t.base = &tls.Config{
		MinVersion: tls.VersionTLS12, // a handshake never uses base's own: see GetConfigForClient
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load().conf, nil
		},
	}
	return t
}

// Name is the listener's configured name.
func (t *TLS) Name() string { return t.cfg.Name }

// Protocol is "tls".
func (t *TLS) Protocol() string { return "tls" }

// Address is the bound address after Listen, else the configured one.
func (t *TLS) Address() string { return t.tcp.Address() }

// Listen reads the certificates and binds the address. A certificate that
// does not load stops start-up, naming the file.
func (t *TLS) Listen() error {
	t.reloadMu.Lock()
	if t.cur.Load() == nil {
		m, err := loadMaterial(t.cfg)
		if err != nil {
			t.reloadMu.Unlock()
			return err // the caller names the listener (New)
		}
		t.cur.Store(m)
	}
	t.reloadMu.Unlock()
	return t.tcp.Listen()
}

// Serve hands each accepted connection, wrapped in TLS, to c.
func (t *TLS) Serve(c Conns) error {
	ln, err := t.bound()
	if err != nil {
		return err
	}
	return c.Serve(ln, t.cfg.Name)
}

// bound is the bound socket wrapped in TLS, for Serve (TLS's and WSS's).
func (t *TLS) bound() (net.Listener, error) {
	ln, err := t.tcp.bound()
	if err != nil {
		return nil, err
	}
	return &tlsListener{Listener: ln, conf: t.base, timeout: t.timeout}, nil
}

// Close stops accepting. Open connections stay with the broker.
func (t *TLS) Close() error { return t.tcp.Close() }

// Files are the certificate files Reload reads, for a caller that watches
// them (cmd/plume reloads when they change).
func (t *TLS) Files() []string {
	files := []string{t.cfg.CertFile, t.cfg.KeyFile}
	if t.cfg.ClientCAFile != "" {
		files = append(files, t.cfg.ClientCAFile)
	}
	return files
}

// Reload reads the certificate files again. When they differ from what
// serves, new handshakes use them from the moment it returns (changed is
// true); connections already open keep theirs. On an error (a file missing
// or unparsable, a key that does not match its certificate) the previous
// material keeps serving; the error names the file.
func (t *TLS) Reload() (changed bool, err error) {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	m, err := loadMaterial(t.cfg)
	if err != nil {
		return false, fmt.Errorf("listener %q: %w", t.cfg.Name, err)
	}
	if old := t.cur.Load(); old != nil && old.sum == m.sum {
		return false, nil
	}
	t.cur.Store(m)
	return true, nil
}

// Serial is the serial number, in hex, of the certificate that serves now;
// "" before Listen.
func (t *TLS) Serial() string {
	if m := t.cur.Load(); m != nil {
		return m.serial
	}
	return ""
}

// tlsListener wraps each accepted TCP connection in a server-side tls.Conn.
type tlsListener struct {
	net.Listener
	conf    *tls.Config
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(c, l.conf), timeout: l.timeout}, nil
}

// tlsConn is a server-side TLS connection that tells the broker what its
// handshake verified (broker.TransportConn). It does not expose the TCP socket
// (syscall.Conn), so the broker never parks it on the idle poller: the TLS
// layer may hold decrypted bytes that the socket does not show as readable
// (docs/decisions/0020-tls.md).
type tlsConn struct {
	*tls.Conn
	timeout time.Duration
}

var _ broker.TransportConn = (*tlsConn)(nil)

// TransportInfo completes the handshake, within the timeout, and reports
// the verified client certificate. The broker calls it on the connection's
// own goroutine before reading CONNECT. A failed handshake is the
// TransportInfo's Err: the broker logs, counts and closes the connection.
func (c *tlsConn) TransportInfo() broker.TransportInfo {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		return broker.TransportInfo{Err: fmt.Errorf("TLS handshake: %w", err)}
	}
	return certInfo(c.ConnectionState())
}

// certInfo is the identity in a verified client certificate; only a chain
// the handshake verified counts, never a certificate merely presented.
func certInfo(st tls.ConnectionState) broker.TransportInfo {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return broker.TransportInfo{}
	}
	leaf := st.VerifiedChains[0][0]
	// Typed as openssl prints them, so that a rule for "DNS:x" cannot be
	// met by a URI or an e-mail address that reads x.
	var sans []string
	for _, n := range leaf.DNSNames {
		sans = append(sans, "DNS:"+n)
	}
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	for _, e := range leaf.EmailAddresses {
		sans = append(sans, "email:"+e)
	}
	for _, u := range leaf.URIs {
		sans = append(sans, "URI:"+u.String())
	}
	sum := sha256.Sum256(leaf.Raw)
	return broker.TransportInfo{
		CertSubject:     leaf.Subject.String(),
		CertSANs:        sans,
		CertFingerprint: hex.EncodeToString(sum[:]),
		CertCommonName:  leaf.Subject.CommonName,
	}
}
