package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startMochiListener runs mochi in-process with the listener mk makes on a
// free loopback port, and returns that port's host:port.
func startMochiListener(t *testing.T, mk func(addr string) listeners.Listener) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := server.AddListener(mk(addr)); err != nil {
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	// mochi's WebSocket listener binds in a goroutine of its own after
	// Serve returns: wait until the port accepts, or the first dial races it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mochi listener on %s not accepting after 10 s: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return addr
}

// useClientTLS points clientTLS at dir's CA (and client certificate, if
// mutual) for the rest of the test.
func useClientTLS(t *testing.T, dir string, mutual bool) {
	t.Helper()
	cert, key := "", ""
	if mutual {
		cert, key = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	}
	c, err := loadClientTLS(filepath.Join(dir, "ca.pem"), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	old := clientTLS
	clientTLS = c
	t.Cleanup(func() { clientTLS = old })
}

// serverTLS loads the server certificate certs wrote into dir; with mutual,
// it requires a client certificate signed by dir's CA.
func serverTLS(t *testing.T, dir string, mutual bool) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}}
	if mutual {
		roots, err := loadClientTLS(filepath.Join(dir, "ca.pem"), "", "")
		if err != nil {
			t.Fatal(err)
		}
		c.ClientCAs, c.ClientAuth = roots.RootCAs, tls.RequireAndVerifyClientCert
	}
	return c
}

// The TLS row's scenarios run over tls:// with the certificates `loadgen
// certs` writes, verified against its CA for the name 127.0.0.1: the pairs
// scenario delivers everything, the idle one holds its connections.
func TestScenariosOverTLS(t *testing.T) {
	dir := t.TempDir()
	if err := writeCerts(dir); err != nil {
		t.Fatal(err)
	}
	useClientTLS(t, dir, false)
	addr := "tls://" + startMochiListener(t, func(a string) listeners.Listener {
		return listeners.NewTCP(listeners.Config{ID: "tls", Address: a, TLSConfig: serverTLS(t, dir, false)})
	})
	res, err := runFlow(scenarios["pairs"], flowConfig{
		addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, drain: 5 * time.Second,
		outstanding: 200, inflight: 16, payload: 64, bufSize: 16 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.delivered == 0 || res.lost != 0 || res.received != res.sent {
		t.Fatalf("pairs over TLS: delivered %d, lost %d, sent %d, received %d", res.delivered, res.lost, res.sent, res.received)
	}
	idle, err := runIdle(idleConfig{addr: addr, pid: os.Getpid(), conns: 50, concurrency: 8, settle: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if idle.conns != 50 || idle.droppedByPeer != 0 {
		t.Fatalf("idle over TLS: %+v", idle)
	}
}

// Mutual TLS: with -cert/-key the broker that requires a client certificate
// accepts the load generator; without them the handshake fails, so a
// misconfigured mTLS row reports an error instead of a figure.
func TestMutualTLSPresentsTheClientCertificate(t *testing.T) {
	dir := t.TempDir()
	if err := writeCerts(dir); err != nil {
		t.Fatal(err)
	}
	addr := "tls://" + startMochiListener(t, func(a string) listeners.Listener {
		return listeners.NewTCP(listeners.Config{ID: "mtls", Address: a, TLSConfig: serverTLS(t, dir, true)})
	})
	useClientTLS(t, dir, false)
	if c, err := dial(addr, "no-cert", keepAlive, 256); err == nil {
		c.close()
		t.Fatal("connected without a client certificate to a listener that requires one")
	}
	useClientTLS(t, dir, true)
	c, err := dial(addr, "with-cert", keepAlive, 256)
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	c.close()
}

// A certificate for another name is refused: the dialer verifies the broker
// against -ca and the address's host rather than skipping verification.
func TestTLSVerifiesTheBrokerName(t *testing.T) {
	dir := t.TempDir()
	if err := writeCerts(dir); err != nil {
		t.Fatal(err)
	}
	useClientTLS(t, dir, false)
	clientTLS.ServerName = "not-the-broker.example"
	addr := "tls://" + startMochiListener(t, func(a string) listeners.Listener {
		return listeners.NewTCP(listeners.Config{ID: "tls", Address: a, TLSConfig: serverTLS(t, dir, false)})
	})
	_, err := dial(addr, "x", keepAlive, 256)
	if err == nil || !strings.Contains(err.Error(), "not-the-broker.example") {
		t.Fatalf("dial with the wrong server name: %v, want a verification error naming it", err)
	}
}

// Over ws:// every MQTT packet travels in binary WebSocket messages with the
// mqtt subprotocol: mochi's WebSocket listener carries the pairs scenario
// and the idle connections.
func TestScenariosOverWebSocket(t *testing.T) {
	addr := "ws://" + startMochiListener(t, func(a string) listeners.Listener {
		return listeners.NewWebsocket(listeners.Config{ID: "ws", Address: a})
	}) + "/mqtt"
	res, err := runFlow(scenarios["pairs"], flowConfig{
		addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, drain: 5 * time.Second,
		outstanding: 200, inflight: 16, payload: 64, bufSize: 16 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.delivered == 0 || res.lost != 0 || res.received != res.sent {
		t.Fatalf("pairs over WebSocket: delivered %d, lost %d, sent %d, received %d", res.delivered, res.lost, res.sent, res.received)
	}
	idle, err := runIdle(idleConfig{addr: addr, pid: os.Getpid(), conns: 50, concurrency: 8, settle: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if idle.conns != 50 || idle.droppedByPeer != 0 {
		t.Fatalf("idle over WebSocket: %+v", idle)
	}
}

func TestUnknownSchemeIsRefused(t *testing.T) {
	_, err := dialBroker("quic://127.0.0.1:1", time.Second)
	if err == nil || !strings.Contains(err.Error(), `unknown scheme "quic"`) {
		t.Fatalf("dialBroker(quic://…) = %v", err)
	}
}

// The TLS row is Plume over TLS against the peers over TLS (not over TCP),
// and against Plume over TCP in the same scenario.
func TestTransportRowsCompareLikeWithLike(t *testing.T) {
	if got := peerOf("plume-tls", "mosquitto"); got != "mosquitto-tls" {
		t.Errorf("peerOf(plume-tls, mosquitto) = %q", got)
	}
	if got := peerOf("plume-mtls", "mochi"); got != "mochi-mtls" {
		t.Errorf("peerOf(plume-mtls, mochi) = %q", got)
	}
	results := []Result{
		{Broker: subject, Scenario: "pairs", MsgsPerSec: 1000},
		{Broker: "plume-tls", Scenario: "pairs", MsgsPerSec: 600},
		{Broker: subject, Scenario: "idle", RSSPerConnKiB: 3},
		{Broker: "plume-tls", Scenario: "idle", RSSPerConnKiB: 30},
	}
	find := func(sc, broker string) *Result {
		for i := range results {
			if results[i].Scenario == sc && results[i].Broker == broker {
				return &results[i]
			}
		}
		return nil
	}
	got := transportVsTCP(find)
	want := []Ratio{{"plume-tls", "pairs", subject, "msgs_per_s", 0.6, ""}, {"plume-tls", "idle", subject, "rss_per_conn", 10, "idle"}}
	if len(got) != len(want) {
		t.Fatalf("transportVsTCP = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("transportVsTCP[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
