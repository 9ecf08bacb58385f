package takeover_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/broker"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait on a condition: generous, the machine is shared.
const wait = 30 * time.Second

// runJetStream is one in-process nats-server with JetStream: the nodes of a
// test share it, as nodes of a cluster share its streams.
func runJetStream(t testing.TB) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

var prefixes atomic.Int64

// plume is one node: a broker with the JetStream store, the fabric and a
// Mover, serving MQTT on a loopback port.
type plume struct {
	name  string
	store *jsstore.Store
	mover *takeover.Mover
	b     *broker.Broker
	fab   *fabric.Fabric
	addr  string
	lost  chan string // clients the store says another node took
	// stop ends the process: the test's cleanup, or earlier, a node that
	// dies (what it stored stays in JetStream).
	stop func()
}

// startNodes starts one node per name on srv, sharing one store prefix.
// answer: whether each node answers let-go requests (false plays a node cut
// off from the others but not from JetStream).
func startNodes(t testing.TB, srv *server.Server, answer bool, names ...string) []*plume {
	t.Helper()
	prefix := fmt.Sprintf("tk%d", prefixes.Add(1))
	nodes := make([]*plume, len(names))
	for i, name := range names {
		nodes[i] = startNode(t, srv, prefix, name, answer)
	}
	return nodes
}

func startNode(t testing.TB, srv *server.Server, prefix, name string, answer bool) *plume {
	t.Helper()
	return startNodeWith(t, srv, prefix, name, answer, nil)
}

// startNodeWith is startNode with an ingest (nil: takeover.NoLog).
func startNodeWith(t testing.TB, srv *server.Server, prefix, name string, answer bool, ingest takeover.Log) *plume {
	t.Helper()
	return startNodeOf(t, srv, prefix, name, answer, ingest, false)
}

// startIngestNodes starts one node per name on srv whose QoS ≥ 1 messages
// go through the fabric's ingest, and whose moves catch up from it, as
// cmd/plume wires them (decision 0055).
func startIngestNodes(t testing.TB, srv *server.Server, names ...string) []*plume {
	t.Helper()
	prefix := fmt.Sprintf("tk%d", prefixes.Add(1))
	nodes := make([]*plume, len(names))
	for i, name := range names {
		nodes[i] = startNodeOf(t, srv, prefix, name, true, nil, true)
	}
	return nodes
}

func startNodeOf(t testing.TB, srv *server.Server, prefix, name string, answer bool, ingest takeover.Log, fabricIngest bool, configure ...func(*takeover.Config)) *plume {
	t.Helper()
	log := failureLog(t, name)
	nc, err := nats.Connect(srv.ClientURL(), nats.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	st, err := jsstore.Open(context.Background(), nc, jsstore.Config{Prefix: prefix, Node: name, Shards: 4}, log)
	if err != nil {
		t.Fatal(err)
	}
	fcfg := fabric.Config{Conn: nc, Prefix: prefix, Log: log}
	if fabricIngest {
		fcfg.Prefix = prefix + ".f" // as cmd/plume: the store's retained stream takes PREFIX.r.>
		fcfg.Ingest = &fabric.IngestConfig{Prefix: prefix, Shards: 4, Node: name}
	}
	fab, err := fabric.New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	if fabricIngest {
		if err := st.WriteBoot(context.Background(), fab.Forwarded().UpTo); err != nil { // as cmd/plume
			t.Fatal(err)
		}
		ingest = takeover.FabricLog{Fabric: fab, Committed: st.PositionsOf, Boots: st}
	}
	cfg := takeover.Config{Conn: nc, Prefix: prefix, Node: name, Store: storeOf{st}, Ingest: ingest, Log: log,
		AskTimeout: 5 * time.Second, AdoptAfter: -1}
	for _, c := range configure {
		c(&cfg)
	}
	mv, err := takeover.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{AllowAnonymous: true, Store: st, Fabric: fab, Takeover: mv, SysInterval: -1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	p := &plume{name: name, store: st, mover: mv, b: b, fab: fab, lost: make(chan string, 16)}
	st.SetOnLost(func(client string) { b.Forget(client); p.lost <- client })
	if err := fab.Start(b); err != nil {
		t.Fatal(err)
	}
	if answer {
		if err := mv.Start(b); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	done := make(chan error, 1)
	go func() { done <- b.Serve(l, "test") }()
	p.stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := mv.Close(); err != nil {
			t.Errorf("%s: mover Close: %v", name, err)
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", name, err)
		}
		if err := <-done; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s: Serve: %v", name, err)
		}
		if err := fab.Close(); err != nil {
			t.Errorf("%s: fabric Close: %v", name, err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("%s: store Close: %v", name, err)
		}
		nc.Close()
	})
	t.Cleanup(p.stop)
	return p
}

// storeOf adapts the JetStream store to takeover.Store (cmd/plume has the
// same adapter).
type storeOf struct{ s *jsstore.Store }

func (a storeOf) Fetch(ctx context.Context, client string) (takeover.Held, error) {
	h, err := a.s.Fetch(ctx, client)
	if errors.Is(err, jsstore.ErrNoSession) {
		return takeover.Held{}, fmt.Errorf("%w: %w", takeover.ErrNoSession, err)
	}
	return takeover.Held{Record: h.Record, Node: h.Node, Revision: h.Revision}, err
}

func (a storeOf) Claim(ctx context.Context, client string, expected uint64, carried []byte) (uint64, error) {
	rev, err := a.s.ClaimCarrying(ctx, client, expected, carried)
	if errors.Is(err, jsstore.ErrFenced) {
		return 0, fmt.Errorf("%w: %w", takeover.ErrFenced, err)
	}
	return rev, err
}

func (a storeOf) Owned(ctx context.Context, node string) ([]string, error) {
	return a.s.Owned(ctx, node)
}

func (a storeOf) Owner(ctx context.Context, client string) (string, error) {
	node, err := a.s.Owner(ctx, client)
	if errors.Is(err, jsstore.ErrNoSession) {
		return "", fmt.Errorf("%w: %w", takeover.ErrNoSession, err)
	}
	return node, err
}

func (a storeOf) FinishCommitsOf(ctx context.Context, node string) error {
	return a.s.FinishCommitsOf(ctx, node)
}

// client is a paho.golang (MQTT 5.0) client.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
	gone chan *paho.Disconnect // the server's DISCONNECT
	ack  *paho.Connack
}

type dialOpts struct {
	clean      bool
	expiry     uint32
	receiveMax uint16
	manualAck  bool // never acknowledge: deliveries stay in flight
	willTopic  string
	willDelay  uint32
}

func dial(t testing.TB, p *plume, id string, o dialOpts) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{msgs: make(chan *paho.Publish, 1000), gone: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn:                       conn,
		EnableManualAcknowledgment: o.manualAck,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				c.msgs <- pr.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { c.gone <- d },
	})
	cp := &paho.Connect{ClientID: id, CleanStart: o.clean, KeepAlive: 60,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}}
	if o.receiveMax > 0 {
		cp.Properties.ReceiveMaximum = &o.receiveMax
	}
	if o.willTopic != "" {
		cp.WillMessage = &paho.WillMessage{Topic: o.willTopic, Payload: []byte("will of " + id), QoS: 1}
		cp.WillProperties = &paho.WillProperties{WillDelayInterval: &o.willDelay}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if c.ack, err = c.Connect(ctx, cp); err != nil {
		_ = conn.Close()
		t.Fatalf("connect %s to %s: %v", id, p.name, err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Error("paho client did not stop")
		}
	})
	return c
}

func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func (c *client) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	if _, err := c.Subscribe(tctx(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}); err != nil {
		t.Fatal(err)
	}
}

func (c *client) publish(t testing.TB, topic, payload string, qos byte) {
	t.Helper()
	if _, err := c.Publish(tctx(t), &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: qos}); err != nil {
		t.Fatalf("publish %q: %v", payload, err)
	}
}

func (c *client) expect(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message received")
		return nil
	}
}

// routes publishes probes on from until one reaches c: c's subscription
// is known where from is.
func (c *client) routes(t testing.TB, from *client, topic string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		from.publish(t, topic, "probe", 1)
		select {
		case m := <-c.msgs:
			if string(m.Payload) != "probe" {
				t.Fatalf("before the probe: %q", m.Payload)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe on %s reached the subscriber", topic)
		}
	}
}

// failureLog is a node's logger: its lines are printed when the test fails
// (races here pass under -v and fail without: the logs must come with the
// failure), or all along with PLUME_TEST_LOG set.
func failureLog(t testing.TB, name string) zerolog.Logger {
	if os.Getenv("PLUME_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Str("node", name).Logger()
	}
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, buf.String())
		}
	})
	return zerolog.New(buf).With().Timestamp().Str("node", name).Logger()
}

// lockedBuffer is a log destination written by a node's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// leaveSubscribed leaves on p an offline session of id, of the expiry
// given, subscribed to filter at qos: what most moves start from.
func leaveSubscribed(t testing.TB, p *plume, id string, expiry uint32, filter string, qos byte) {
	t.Helper()
	c := dial(t, p, id, dialOpts{expiry: expiry})
	c.subscribe(t, filter, qos)
	c.leave(t)
}
