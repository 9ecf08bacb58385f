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
// topic, on a node that itself subscribes to them (bench/#), as a node with
// local subscribers does. ns/op includes taking back the node's own copies
// where NATS echoes them: the timer stops once every copy NATS sent back
// has been received. echoed/op is how many came back per message.
func BenchmarkPublish(b *testing.B) {
	b.Run("echo", func(b *testing.B) { benchPublish(b, false) })
}

type nopLocal struct{}

func (nopLocal) RouteFromPeer(*session.Message) int               { return 0 }
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
	fab.Interest("bench/#", true)
	eventually(b, "the node's own interest", func() bool { return srv.NumSubscriptions() >= subs+2 })
	payload := make([]byte, 64)
	var ids atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := &session.Message{Topic: fmt.Sprintf("bench/%d", ids.Add(1)), Payload: payload, Publisher: "pub"}
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

// setPublishConn: no separate publishing connection before decision 0058.
func setPublishConn(testing.TB, *fabric.Config, *server.Server, bool) {}
