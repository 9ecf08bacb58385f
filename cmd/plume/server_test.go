package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
)

func TestSessionOwnerMismatchReachesTheBroker(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("session_owner_mismatch: fresh\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := brokerOptions(cfg, zerolog.Nop(), nil); o.SessionOwnerMismatch != broker.OwnerMismatchFresh {
		t.Fatalf("broker got %v, want fresh", o.SessionOwnerMismatch)
	}
}

func TestEveryConfiguredListenerServes(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("listeners:\n  - {name: a, address: '127.0.0.1:0'}\n  - {name: b, type: tcp, address: '127.0.0.1:0'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := start(cfg, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServer(t, srv) })
	if len(srv.listeners) != 2 {
		t.Fatalf("%d listeners, want 2", len(srv.listeners))
	}
	for _, l := range srv.listeners {
		if got := connack311(t, l.Address()); !bytes.Equal(got, []byte{0x20, 2, 0, 0}) {
			t.Errorf("listener %s (%s): CONNACK % x, want 20 02 00 00", l.Name(), l.Address(), got)
		}
	}
}

func TestATakenPortStopsStartUpAndFreesTheOthers(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Name: "first", Address: freeAddr}, {Name: "second", Address: taken.Addr().String()}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if srv, err := start(cfg, "", io.Discard); err == nil {
		stopServer(t, srv)
		t.Fatal("start succeeded with a taken port")
	} else if !strings.Contains(err.Error(), `listener "second"`) || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("start: %v, want the listener and address named", err)
	}
	// The first listener was bound and must have been let go.
	l, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the first listener's port is still held after the failed start: %v", err)
	}
	l.Close()
}

// startYAML writes yaml to path, loads it as the binary does and starts a
// server on it; the caller stops it (stopServer).
func startYAML(t *testing.T, path, yaml string) *server {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := start(cfg, path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func stopServer(t *testing.T, srv *server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.stop(ctx); err != nil {
		t.Error(err)
	}
}

// connack311 sends an MQTT 3.1.1 CONNECT to addr and returns the 4 bytes of
// the answer.
func connack311(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 't'}); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatal(err)
	}
	return ack
}

// The file's broker section is broker.Options itself: what it says reaches
// the broker as written, and the rules are the broker's (a negative
// sys_interval, which the broker reads as "no $SYS", is accepted).
func TestBrokerSectionIsTheBrokersOptions(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("sys_interval: -1s\nlimits:\n  max_qos: 1\n  retain_available: false\n  max_partial_packet_bytes: 1MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := brokerOptions(cfg, zerolog.Nop(), listenerPolicies(cfg))
	if o.SysInterval >= 0 || *o.Limits.MaxQoS != 1 || *o.Limits.RetainAvailable || o.Limits.MaxPartialPacketBytes != 1<<20 || !o.Listeners["default"].AllowAnonymous {
		t.Fatalf("broker options %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("the broker refuses what the file accepted: %v", err)
	}
}
