package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// runServer starts an in-process NATS server with JetStream on a free
// loopback port, its data in a temporary directory, shut down when the
// test ends.
func runServer(t testing.TB) *server.Server { return runServerSync(t, false) }

// runServerSync is runServer with JetStream's sync setting: syncAlways
// fsyncs every write before it is acknowledged; false is the server's
// default (an fsync every 2 minutes).
func runServerSync(t testing.TB, syncAlways bool) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, SyncAlways: syncAlways,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		t.Fatal("NATS server not ready within 30s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func connect(t testing.TB, srv *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var prefixes atomic.Int64

// freshConfig is a store of its own (its own streams) on a shared server.
func freshConfig(node string) Config {
	return Config{Prefix: fmt.Sprintf("t%d", prefixes.Add(1)), Node: node, Shards: 4}
}

func openT(t testing.TB, nc *nats.Conn, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), nc, cfg, testLog(t))
	if err != nil {
		t.Fatalf("Open %s: %v", cfg.Prefix, err)
	}
	return s
}

func testLog(t testing.TB) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }
