package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/internal/testcerts"
)

// routeTLS issues node a route certificate from ca, for 127.0.0.1, and
// returns the route_tls section that uses it.
func routeTLS(t *testing.T, ca *testcerts.CA, dir, node string) *RouteTLS {
	t.Helper()
	c := ca.Issue(t, testcerts.Leaf{CommonName: node, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Both: true})
	return &RouteTLS{
		CertFile: testcerts.Write(t, dir, node+".crt", c.CertPEM),
		KeyFile:  testcerts.Write(t, dir, node+".key", c.KeyPEM),
		CAFile:   testcerts.Write(t, dir, node+"-ca.crt", ca.PEM),
	}
}

// Three nodes whose routes use mutual TLS form the cluster; a route port
// asks for TLS before anything else; a node whose certificate another CA
// signed, and one without TLS, do not get in.
func TestRoutesWithMutualTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "plume routes")
	dir := t.TempDir()
	cfgs := testConfigs(t, 5) // three members, two intruders
	for i := range cfgs[:4] {
		cfgs[i].RouteTLS = routeTLS(t, ca, dir, cfgs[i].Node)
	}
	cfgs[3].RouteTLS = routeTLS(t, testcerts.NewCA(t, "another"), dir, "n4-foreign")
	for i := range cfgs {
		cfgs[i].Peers = cfgs[0].Peers[:3] // the members' addresses
		cfgs[i].Replicas = 0
		if err := cfgs[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	nodes := startAll(t, cfgs[:3])
	for _, n := range nodes {
		eventually(t, func() string {
			if got := upNames(n); got != "n1,n2,n3" {
				return n.Name() + " sees up: " + got
			}
			return ""
		})
	}

	// The route port speaks TLS and wants the peer's certificate: with one
	// of the CA, the server's INFO comes through TLS; without, nothing does.
	if info, err := routeGreeting(cfgs[0].Listen, cfgs[1].RouteTLS); err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("route port's greeting over TLS with n2's certificate: %q (%v), want INFO", info, err)
	}
	if info, err := routeGreeting(cfgs[0].Listen, &RouteTLS{CAFile: cfgs[1].RouteTLS.CAFile}); err == nil {
		t.Fatalf("route port greeted a TLS client without a certificate: %q", info)
	}

	for _, cfg := range cfgs[3:] {
		cfg.StartTimeout = 5 * time.Second
		n, err := Start(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)).With().Str("node", cfg.Node).Logger())
		if err == nil {
			_ = n.Close(context.Background())
			t.Fatalf("%s (route_tls %v) joined a cluster whose routes need a certificate of its CA", cfg.Node, cfg.RouteTLS != nil)
		}
		if !strings.Contains(err.Error(), "routes to the reachable peers") {
			t.Errorf("%s: Start failed with %q; want it to name the routes it waited for", cfg.Node, err)
		}
	}
	for _, n := range nodes {
		if got := upNames(n); got != "n1,n2,n3" {
			t.Errorf("%s sees up %s after the intruders tried", n.Name(), got)
		}
	}
}

// A route_tls section names each missing file by its key; a certificate
// that does not load fails the start, naming the key and the file.
func TestRouteTLSValidation(t *testing.T) {
	cfg := testConfigs(t, 1)[0]
	cfg.RouteTLS = &RouteTLS{CertFile: "/nonexistent/n1.crt"}
	err := cfg.Validate()
	for _, key := range []string{"route_tls.key_file", "route_tls.ca_file"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v: want %s named", err, key)
		}
	}
	cfg.RouteTLS = &RouteTLS{CertFile: "/nonexistent/n1.crt", KeyFile: "/nonexistent/n1.key", CAFile: "/nonexistent/ca.crt"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := serverOptions(&cfg); err == nil || !strings.Contains(err.Error(), "cluster.route_tls") || !strings.Contains(err.Error(), "/nonexistent/n1.crt") {
		t.Errorf("error %v: want cluster.route_tls naming the file that does not load", err)
	}
	ext := Config{NATSURL: "nats://127.0.0.1:4222", RouteTLS: &RouteTLS{}}
	if err := ext.Validate(); err == nil || !strings.Contains(err.Error(), "route_tls") {
		t.Errorf("error %v: want route_tls refused with nats_url", err)
	}
}

// routeGreeting dials a route port with TLS as rt says (a certificate if
// it names one; the CA always) and reads the server's first line.
func routeGreeting(addr string, rt *RouteTLS) (string, error) {
	pem, err := os.ReadFile(rt.CAFile)
	if err != nil {
		return "", err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if rt.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(rt.CertFile, rt.KeyFile)
		if err != nil {
			return "", err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	return bufio.NewReader(conn).ReadString('\n')
}
