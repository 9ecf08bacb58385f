package fabric_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/core/session"
)

// idleLocal is a broker that takes nothing: Start only needs it there.
type idleLocal struct{}

func (idleLocal) RouteFromPeer(*session.Message) int                    { return 0 }
func (idleLocal) RouteShared(*session.Message, string, string) bool     { return false }
func (idleLocal) RouteIngested(uint32, uint64, ...*session.Message) int { return 0 }
func (idleLocal) Positions() session.Positions                          { return nil }

// A node restarted after a kill -9 starts while its streams elect leaders:
// JetStream answers late (no responders), then not about the stream (not
// found), then the stream is there. Start asks again until its start
// timeout instead of failing on the first answer (round 2's fault run:
// "fabric: ingest stream plume_IN2: context deadline exceeded").
func TestStartWaitsForTheIngestStreams(t *testing.T) {
	srv, nc := runNATS(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	f, err := fabric.New(fabric.Config{Conn: nc, Prefix: "late.f", Log: zerolog.Nop(),
		Ingest: &fabric.IngestConfig{Prefix: "late", Shards: 1, Node: "n1", Timeout: 200 * time.Millisecond, StartTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	started := make(chan error, 1)
	go func() { started <- f.Start(idleLocal{}) }()

	// No JetStream yet: the lookup gets no responders.
	eventually(t, "Start to ask a JetStream that is not there", func() bool {
		v, err := srv.Varz(nil)
		return err == nil && v.InMsgs > 0
	})
	select {
	case err := <-started:
		t.Fatalf("Start returned %v with no JetStream: it gave up on the first no-responders", err)
	default:
	}
	if err := srv.EnableJetStream(&server.JetStreamConfig{StoreDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	// JetStream, but no stream yet: "stream not found".
	eventually(t, "Start to ask for a stream that is not there", func() bool {
		j, err := srv.Jsz(nil)
		return err == nil && j.API.Errors > 0
	})
	select {
	case err := <-started:
		t.Fatalf("Start returned %v before the stream existed", err)
	default:
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "late_IN0", Subjects: []string{"late.in.0.>"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("Start: %v, want it to find the stream once it was there", err)
		}
	case <-time.After(wait):
		t.Fatal("Start did not return once the stream was there")
	}
	st, err := js.Stream(ctx, "late_IN0")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Consumers; n != 1 {
		t.Fatalf("%d consumers on the ingest stream, want the fabric's one", n)
	}
}

// A refusal that asking again cannot change still fails Start at once.
func TestStartFailsOnARefusal(t *testing.T) {
	_, nc := runNATS(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	f, err := fabric.New(fabric.Config{Conn: nc, Prefix: "bad.f", Log: zerolog.Nop(),
		// A stream name may not hold a dot: the lookup is refused.
		Ingest: &fabric.IngestConfig{Prefix: "bad.prefix", Shards: 1, Node: "n1", Timeout: 200 * time.Millisecond, StartTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	started := make(chan error, 1)
	go func() { started <- f.Start(idleLocal{}) }()
	select {
	case err := <-started:
		if err == nil {
			t.Fatal("Start succeeded on a stream name JetStream refuses")
		}
	case <-time.After(wait):
		t.Fatal("Start still asking about a stream name JetStream refuses (its start timeout is an hour)")
	}
}

// runNATS runs a nats-server with opts for the test and connects to it.
func runNATS(t *testing.T, opts *server.Options) (*server.Server, *nats.Conn) {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(wait) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return srv, nc
}
