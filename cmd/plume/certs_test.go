package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/internal/testcerts"
)

// lockedBuffer is a log destination the test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with no event to await
	}
}

// serverCert makes a test CA and writes, in dir, a server certificate it
// signed with serial (server.pem, server.key) and the CA (ca.pem). roots
// trust the CA.
func serverCert(t *testing.T, dir string, serial int64) (ca *testcerts.CA, roots *x509.CertPool) {
	t.Helper()
	ca = testcerts.NewCA(t, "plume test CA")
	s := ca.Server(t, serial)
	testcerts.Write(t, dir, "ca.pem", ca.PEM)
	testcerts.Write(t, dir, "server.pem", s.CertPEM)
	testcerts.Write(t, dir, "server.key", s.KeyPEM)
	roots = x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return ca, roots
}

func servedSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// The certificate files sit beside the config file, named relative to it;
// replacing them (by rename, as tools do) changes what new handshakes get,
// while a connection made before keeps working; a bad replacement keeps
// the old certificate and is logged at error level with the file's name.
func TestTLSCertificatesReloadWhenTheirFilesChange(t *testing.T) {
	dir := t.TempDir()
	ca, roots := serverCert(t, dir, 0x101)
	srv, logs := startFromYAML(t, dir, "log: {level: info, format: json}\nlisteners:\n"+
		"  - {name: secure, type: tls, address: '127.0.0.1:0', cert_file: server.pem, key_file: server.key}\n")
	addr := srv.listeners[0].Address()
	if got := servedSerial(t, addr, roots); got != "101" {
		t.Fatalf("serial %s, want 101", got)
	}
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	ack := make([]byte, 4)
	_ = old.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := old.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 't'}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Read(ack); err != nil || !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("CONNACK % x, %v", ack, err)
	}

	second := ca.Server(t, 0x102)
	testcerts.Replace(t, dir, "server.key", second.KeyPEM)
	testcerts.Replace(t, dir, "server.pem", second.CertPEM)
	eventually(t, "the new certificate to serve", func() bool { return servedSerial(t, addr, roots) == "102" })
	if _, err := old.Write([]byte{0xc0, 0}); err != nil {
		t.Fatal(err)
	}
	if n, err := old.Read(ack[:2]); err != nil || n != 2 || !bytes.Equal(ack[:2], []byte{0xd0, 0}) {
		t.Fatalf("PINGRESP on the connection made before the reload: % x, %v", ack[:n], err)
	}

	testcerts.Replace(t, dir, "server.pem", []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"))
	certFile := filepath.Join(dir, "server.pem")
	eventually(t, "the failed reload to be logged", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"error"`) && strings.Contains(line, "certificate reload failed") && strings.Contains(line, certFile) {
				return true
			}
		}
		return false
	})
	if got := servedSerial(t, addr, roots); got != "102" {
		t.Fatalf("serial %s after a bad replacement, want 102 still", got)
	}

	// SIGHUP's path: the files are good again, and reloadCerts picks them up
	// (the watcher may beat it to it; either way the new one serves).
	third := ca.Server(t, 0x103)
	if err := os.WriteFile(certFile, third.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), third.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.reloadCerts("SIGHUP")
	if got := servedSerial(t, addr, roots); got != "103" {
		t.Fatalf("serial %s after reloadCerts, want 103", got)
	}
}

// A wss listener's certificates are watched as a tls listener's are.
func TestWSSCertificatesReloadWhenTheirFilesChange(t *testing.T) {
	dir := t.TempDir()
	ca, roots := serverCert(t, dir, 0x201)
	srv, _ := startFromYAML(t, dir, "log: {level: info, format: json}\nlisteners:\n"+
		"  - {name: web, type: wss, address: '127.0.0.1:0', path: /mqtt, cert_file: server.pem, key_file: server.key}\n")
	addr := srv.listeners[0].Address()
	if got := servedSerial(t, addr, roots); got != "201" {
		t.Fatalf("serial %s, want 201", got)
	}
	second := ca.Server(t, 0x202)
	testcerts.Replace(t, dir, "server.key", second.KeyPEM)
	testcerts.Replace(t, dir, "server.pem", second.CertPEM)
	eventually(t, "the new certificate to serve on wss", func() bool { return servedSerial(t, addr, roots) == "202" })
}
