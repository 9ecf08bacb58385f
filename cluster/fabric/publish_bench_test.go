package fabric_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/core/session"
)

// BenchmarkPublish is the fabric's send side alone (decision 0058): QoS 0
// messages from several publishers at once (RunParallel), each on its own
// topic of 37 bytes (a subject of 45: past the 32 bytes Go converts to a
// string on the stack), on a node that itself subscribes to them (fleet/#),
// as a node with local subscribers does. ns/op includes taking back the
// node's own copies where NATS echoes them: the timer stops once every copy
// NATS sent back has been received. echoed/op is how many came back per
// message. echo: the node's one connection (Config.Publish nil); noecho:
// with the publishing connection. B/op and allocs/op count the in-process
// nats-server's too.
func BenchmarkPublish(b *testing.B) {
	b.Run("echo", func(b *testing.B) { benchPublish(b, false) })
	b.Run("noecho", func(b *testing.B) { benchPublish(b, true) })
}

type nopLocal struct{}

func (nopLocal) RouteFromPeer(*session.Message) int                { return 0 }
func (nopLocal) RouteShared(*session.Message, string, string) bool { return false }

func benchPublish(b *testing.B, noEcho bool) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(wait) {
		b.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cfg := fabric.Config{Conn: nc, Log: zerolog.Nop()}
	setPublishConn(b, &cfg, srv, noEcho)
	fab, err := fabric.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer fab.Close()
	if err := fab.Start(nopLocal{}); err != nil {
		b.Fatal(err)
	}
	subs := srv.NumSubscriptions()
	fab.Interest("fleet/#", true)
	eventually(b, "the node's own interest", func() bool { return srv.NumSubscriptions() >= subs+2 })
	payload := make([]byte, 64)
	var ids atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids.Add(1)
		m := &session.Message{Topic: fmt.Sprintf("fleet/site-%03d/device-%06d/telemetry", id%1000, id), Payload: payload, Publisher: "pub"}
		for pb.Next() {
			fab.Publish(m)
		}
	})
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	st := fab.Stats()
	if st.Published != uint64(b.N) {
		b.Fatalf("published %d of %d", st.Published, b.N)
	}
	// What NATS echoes comes back through the receive goroutine: wait for
	// all of it, so that its cost is in ns/op.
	if !noEcho {
		eventually(b, "the echoes", func() bool { st = fab.Stats(); return st.Own+st.Dropped >= uint64(b.N) })
	}
	b.StopTimer()
	b.ReportMetric(float64(fab.Stats().Own)/float64(b.N), "echoed/op")
}

// setPublishConn gives cfg a NoEcho publishing connection when noEcho.
func setPublishConn(b testing.TB, cfg *fabric.Config, srv *server.Server, noEcho bool) {
	if !noEcho {
		return
	}
	pc, err := nats.Connect("", nats.InProcessServer(srv), nats.NoEcho())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pc.Close)
	cfg.Publish = pc
}
