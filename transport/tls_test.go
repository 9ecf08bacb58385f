package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/internal/testcerts"
	"github.com/plumemq/plume/transport"
)

// pki is a test's certificates on disk: a CA, a server certificate it
// signed, and the files a TLS listener reads.
type pki struct {
	dir                       string
	ca                        *testcerts.CA
	server                    testcerts.Issued
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), ca: testcerts.NewCA(t, "plume test CA")}
	p.server = p.ca.Server(t, 1001)
	p.caFile = testcerts.Write(t, p.dir, "ca.pem", p.ca.PEM)
	p.certFile = testcerts.Write(t, p.dir, "server.pem", p.server.CertPEM)
	p.keyFile = testcerts.Write(t, p.dir, "server.key", p.server.KeyPEM)
	return p
}

// roots is a pool trusting p's CA, for a client.
func (p *pki) roots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	return roots
}

// recorder allows every client and hands on what authenticate saw of it.
type recorder struct {
	hooks.Base
	seen chan hooks.Client
}

func (r *recorder) Provides(p hooks.Point) bool { return p == hooks.PointAuthenticate }

func (r *recorder) Authenticate(_ context.Context, req *hooks.AuthRequest) (hooks.AuthResult, error) {
	select {
	case r.seen <- *req.Client:
	default:
	}
	return hooks.AuthResult{Verdict: hooks.Allow}, nil
}

// startTLS serves a broker on a TLS listener made from c (address and name
// filled in) and returns the listener.
func startTLS(t *testing.T, c transport.Config, h hooks.Hooks) *transport.TLS {
	t.Helper()
	c.Name, c.Type = "secure", "tls"
	l, _ := serve(t, c, broker.Options{AllowAnonymous: true, Hooks: h})
	return l.(*transport.TLS)
}

// serve starts a broker with opts and serves it on a listener made from c
// (address filled in); both end with the test.
func serve(t *testing.T, c transport.Config, opts broker.Options) (transport.Listener, *broker.Broker) {
	t.Helper()
	opts.SysInterval = -1
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Address = "127.0.0.1:0"
	l, err := transport.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(b) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-served
		_ = l.Close()
	})
	return l, b
}

func port(t *testing.T, l transport.Listener) string {
	_, p, err := net.SplitHostPort(l.Address())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mosquitto runs a mosquitto client tool with args; it fails the test when
// the tool is missing (CI installs mosquitto-clients).
func mosquitto(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not installed (Debian package mosquitto-clients): %v", tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

func TestTLSPublishSubscribeWithMosquittoClients(t *testing.T) {
	p := newPKI(t)
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile}, nil)
	if l.Protocol() != "tls" {
		t.Fatalf("Protocol() = %q, want tls", l.Protocol())
	}
	common := []string{"-h", "localhost", "-p", port(t, l), "--cafile", p.caFile, "-t", "tls/a", "-q", "1"}
	// Retained, so that the subscriber started afterwards gets it: no race
	// between the two tools.
	if out, err := mosquitto(t, "mosquitto_pub", append(common, "-r", "-m", "over tls")...); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	out, err := mosquitto(t, "mosquitto_sub", append(common, "-C", "1", "-W", "10")...)
	if err != nil || strings.TrimSpace(out) != "over tls" {
		t.Fatalf("mosquitto_sub: %v, got %q, want %q", err, out, "over tls")
	}
}

func TestMutualTLSAcceptsAKnownClientCertificateAndHooksSeeIt(t *testing.T) {
	p := newPKI(t)
	rec := &recorder{seen: make(chan hooks.Client, 1)}
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile}, rec)
	dev := p.ca.Issue(t, testcerts.Leaf{CommonName: "sensor-1", DNSNames: []string{"sensor-1.devices"}, Client: true})
	cert := testcerts.Write(t, p.dir, "dev.pem", dev.CertPEM)
	key := testcerts.Write(t, p.dir, "dev.key", dev.KeyPEM)
	out, err := mosquitto(t, "mosquitto_pub", "-h", "localhost", "-p", port(t, l), "--cafile", p.caFile,
		"--cert", cert, "--key", key, "-t", "m/tls", "-m", "x", "-q", "1")
	if err != nil {
		t.Fatalf("mosquitto_pub with a known client certificate: %v\n%s", err, out)
	}
	var c hooks.Client
	select {
	case c = <-rec.seen:
	case <-time.After(wait):
		t.Fatal("authenticate was not called")
	}
	if want := "CN=sensor-1,O=plume tests"; c.CertSubject() != want {
		t.Errorf("CertSubject = %q, want %q", c.CertSubject(), want)
	}
	if len(c.CertSANs()) != 1 || c.CertSANs()[0] != "DNS:sensor-1.devices" {
		t.Errorf("CertSANs = %q, want [DNS:sensor-1.devices]", c.CertSANs())
	}
	if len(c.CertFingerprint()) != 64 || c.CertFingerprint() == strings.Repeat("0", 64) {
		t.Errorf("CertFingerprint = %q, want 64 hex digits", c.CertFingerprint())
	}
}

func TestMutualTLSRefusesUnknownAndExpiredClientCertificates(t *testing.T) {
	p := newPKI(t)
	rec := &recorder{seen: make(chan hooks.Client, 1)}
	l, b := serve(t, transport.Config{Name: "secure", Type: "tls", CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile},
		broker.Options{Hooks: rec})
	other := testcerts.NewCA(t, "someone else's CA")
	for name, issued := range map[string]testcerts.Issued{
		"signed by another CA": other.Issue(t, testcerts.Leaf{CommonName: "intruder", Client: true}),
		"expired": p.ca.Issue(t, testcerts.Leaf{CommonName: "old", Client: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}),
		"none": {},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"-h", "localhost", "-p", port(t, l), "--cafile", p.caFile, "-t", "m/tls", "-m", "x", "-q", "1"}
			if issued.Cert != nil {
				args = append(args, "--cert", testcerts.Write(t, p.dir, "c.pem", issued.CertPEM),
					"--key", testcerts.Write(t, p.dir, "c.key", issued.KeyPEM))
			}
			if out, err := mosquitto(t, "mosquitto_pub", args...); err == nil {
				t.Fatalf("mosquitto_pub with %s client certificate succeeded:\n%s", name, out)
			}
		})
	}
	select {
	case c := <-rec.seen:
		t.Fatalf("authenticate was called for a refused client: %+v", c)
	default:
	}
	// Each refused handshake is counted once, for the operator.
	waitFor(t, "3 transport refusals", func() bool { return b.Stats().TransportRefused == 3 })
}

// waitFor polls cond, which has no event to wait on (a counter), until it
// holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// servedSerial dials l and returns the serial of the certificate it serves.
func servedSerial(t *testing.T, l transport.Listener, roots *x509.CertPool) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: wait}, Config: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	c, err := d.DialContext(context.Background(), "tcp", l.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// dialMQTT opens a TLS connection and completes an MQTT CONNECT on it.
func dialMQTT(t *testing.T, l transport.Listener, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", l.Address(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	roundTrip(t, c, connect311, []byte{0x20, 2, 0, 0})
	return c
}

func roundTrip(t *testing.T, c net.Conn, send, want []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(send); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestTLSReloadServesTheNewCertificateToNewHandshakes(t *testing.T) {
	p := newPKI(t)
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile}, nil)
	roots := p.roots()
	if got := servedSerial(t, l, roots); got != "3e9" {
		t.Fatalf("served serial %s, want 3e9 (1001)", got)
	}
	old := dialMQTT(t, l, roots)

	next := p.ca.Server(t, 1002)
	testcerts.Replace(t, p.dir, "server.pem", next.CertPEM)
	testcerts.Replace(t, p.dir, "server.key", next.KeyPEM)
	if changed, err := l.Reload(); err != nil || !changed {
		t.Fatalf("Reload: changed %v, %v; want true, nil", changed, err)
	}
	if got := servedSerial(t, l, roots); got != "3ea" || l.Serial() != "3ea" {
		t.Fatalf("served serial %s (Serial() %s) after the reload, want 3ea (1002)", got, l.Serial())
	}
	roundTrip(t, old, []byte{0xc0, 0}, []byte{0xd0, 0}) // PINGREQ → PINGRESP on the old certificate
	if changed, err := l.Reload(); err != nil || changed {
		t.Fatalf("Reload of the same files: changed %v, %v; want false, nil", changed, err)
	}

	// A key that does not match, then an unparsable certificate: refused,
	// naming the file; the last good certificate keeps serving.
	stranger := p.ca.Server(t, 1003)
	testcerts.Replace(t, p.dir, "server.key", stranger.KeyPEM)
	if _, err := l.Reload(); err == nil || !strings.Contains(err.Error(), p.keyFile) {
		t.Fatalf("Reload with a mismatched key: %v, want an error naming %s", err, p.keyFile)
	}
	testcerts.Replace(t, p.dir, "server.key", next.KeyPEM)
	testcerts.Replace(t, p.dir, "server.pem", []byte("not a certificate"))
	if _, err := l.Reload(); err == nil || !strings.Contains(err.Error(), p.certFile) {
		t.Fatalf("Reload with garbage: %v, want an error naming %s", err, p.certFile)
	}
	if got := servedSerial(t, l, roots); got != "3ea" {
		t.Fatalf("served serial %s after bad reloads, want 3ea still", got)
	}
}

func TestTLSListenNamesTheBadFile(t *testing.T) {
	p := newPKI(t)
	missing := p.dir + "/nope.pem"
	l, err := transport.New(transport.Config{Name: "s", Type: "tls", Address: "127.0.0.1:0", CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: missing})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err == nil || !strings.Contains(err.Error(), "client_ca_file") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Listen with a missing CA file: %v, want an error naming client_ca_file and %s", err, missing)
	}
	_ = l.Close()
}

func TestTLSMinVersion13RefusesTLS12(t *testing.T) {
	p := newPKI(t)
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile, MinVersion: "1.3"}, nil)
	roots := p.roots()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", l.Address(),
		&tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 client completed a handshake with min_version 1.3")
	}
	if got := dialMQTT(t, l, roots).ConnectionState().Version; got != tls.VersionTLS13 {
		t.Fatalf("version %s, want TLS 1.3", tls.VersionName(got))
	}
}

// A client that connects and never finishes its handshake is closed after
// HandshakeTimeout instead of holding a goroutine.
func TestTLSStalledHandshakeIsClosed(t *testing.T) {
	defer func(d time.Duration) { transport.HandshakeTimeout = d }(transport.HandshakeTimeout)
	transport.HandshakeTimeout = 200 * time.Millisecond
	p := newPKI(t)
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile}, nil)
	for name, send := range map[string][]byte{"silent": nil, "half a ClientHello": {0x16, 0x03, 0x01, 0x02, 0x00, 0x01}} {
		c, err := net.DialTimeout("tcp", l.Address(), wait)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(4 * wait)) // far beyond the handshake timeout
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open after %s; the handshake timeout is %s", name, 4*wait, transport.HandshakeTimeout)
		}
		c.Close()
	}
}

// CONNECT and SUBSCRIBE in one TLS record: after the CONNECT the rest waits
// decrypted in the TLS layer, not on the socket. The broker must answer it
// rather than park the connection until more bytes arrive.
func TestTLSPacketsInOneRecordAreAllAnswered(t *testing.T) {
	p := newPKI(t)
	l := startTLS(t, transport.Config{CertFile: p.certFile, KeyFile: p.keyFile}, nil)
	roots := p.roots()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", l.Address(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	subscribe := []byte{0x82, 8, 0, 1, 0, 3, 'a', '/', 'b', 0}
	roundTrip(t, c, append(append([]byte{}, connect311...), subscribe...), []byte{0x20, 2, 0, 0, 0x90, 3, 0, 1, 0})
}
