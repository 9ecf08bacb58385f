package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/broker"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// jsNode is a Plume node whose QoS ≥ 1 traffic goes through the ingest
// (decision 0055): an in-process nats-server with JetStream in a cluster,
// and a plume part (store, fabric, broker) that stop and start again on
// the same JetStream state, as a restarted process would.
type jsNode struct {
	name   string
	srv    *server.Server
	prefix string
	shards int
	// coreOnly leaves the ingest off: QoS ≥ 1 on core NATS, as in round 1
	// (for the benchmark's comparison).
	coreOnly bool

	nc   *nats.Conn
	st   *jsstore.Store
	fab  *fabric.Fabric
	b    *broker.Broker
	addr string
	done chan error
}

// startJSCluster starts n JetStream servers clustered over loopback routes,
// waits for the routes and a meta leader, then a plume part on each, with
// stores under one fresh prefix.
func startJSCluster(t testing.TB, n int, prefix string, coreOnly bool) []*jsNode {
	t.Helper()
	nodes := make([]*jsNode, n)
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close() // a port for each server's routes, known before any starts
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range nodes {
		opts := &server.Options{
			ServerName: fmt.Sprintf("j%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "plume-ingest", Host: "127.0.0.1", Port: ports[i], PoolSize: -1},
			Routes:  server.RoutesFromStr(joinRoutes(routes, i)),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats-server: %v", err)
		}
		srv.Start()
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		nodes[i] = &jsNode{name: opts.ServerName, srv: srv, prefix: prefix, shards: 4, coreOnly: coreOnly}
	}
	for i, nd := range nodes {
		if !nd.srv.ReadyForConnections(wait) {
			t.Fatalf("nats-server j%d not ready", i)
		}
	}
	eventually(t, "routes and a JetStream meta leader", func() bool {
		leader := false
		for _, nd := range nodes {
			if nd.srv.NumRoutes() != n-1 {
				return false
			}
			leader = leader || nd.srv.JetStreamIsLeader()
		}
		return leader
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	return nodes
}

func joinRoutes(routes []string, except int) string {
	s := ""
	for i, r := range routes {
		if i == except {
			continue
		}
		if s != "" {
			s += ","
		}
		s += r
	}
	return s
}

// start opens the node's store, fabric and broker on its server.
func (nd *jsNode) start(t testing.TB) {
	t.Helper()
	nc, err := nats.Connect(nd.srv.ClientURL(), nats.Name(nd.name))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	log := zerolog.Nop()
	if os.Getenv("PLUME_TEST_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Str("node", nd.name).Logger()
	}
	octx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := jsstore.Open(octx, nc, jsstore.Config{Prefix: nd.prefix, Node: nd.name, Shards: nd.shards}, log)
	if err != nil {
		t.Fatalf("%s: store: %v", nd.name, err)
	}
	cfg := fabric.Config{Conn: nc, Log: log}
	if !nd.coreOnly {
		cfg.Ingest = &fabric.IngestConfig{Prefix: nd.prefix, Shards: nd.shards, Node: nd.name}
	}
	fab, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{AllowAnonymous: true, Fabric: fab, Store: st, SysInterval: -1, Log: log})
	if err != nil {
		t.Fatalf("%s: broker: %v", nd.name, err)
	}
	if err := fab.Start(b); err != nil {
		t.Fatalf("%s: fabric: %v", nd.name, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nd.nc, nd.st, nd.fab, nd.b, nd.addr, nd.done = nc, st, fab, b, l.Addr().String(), make(chan error, 1)
	go func() { nd.done <- b.Serve(l, "test") }()
	t.Cleanup(func() { nd.stop(t) })
}

// stop ends the plume part, as a SIGTERM would: the fabric stops reading,
// the broker commits its last changes, the store and connection close. A
// second call does nothing.
func (nd *jsNode) stop(t testing.TB) {
	t.Helper()
	if nd.b == nil {
		return
	}
	if err := nd.fab.Close(); err != nil {
		t.Errorf("%s: fabric Close: %v", nd.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := nd.b.Shutdown(ctx); err != nil {
		t.Errorf("%s: Shutdown: %v", nd.name, err)
	}
	if err := <-nd.done; !errors.Is(err, broker.ErrClosed) {
		t.Errorf("%s: Serve: %v", nd.name, err)
	}
	if err := nd.st.Close(); err != nil {
		t.Errorf("%s: store Close: %v", nd.name, err)
	}
	nd.nc.Close()
	nd.b = nil
}

// dialJS connects a paho.golang client to nd; persistent asks for a session
// kept an hour (clean start 0), and the CONNACK's session present is returned.
func dialJS(t testing.TB, nd *jsNode, id string, persistent bool) (*client, bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", nd.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *paho.Publish, 10000)
	c := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				msgs <- pr.Packet
				return true, nil
			},
		},
	})
	cp := &paho.Connect{ClientID: id, CleanStart: !persistent, KeepAlive: 60}
	if persistent {
		expiry := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	cctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(cctx, cp)
	if err != nil {
		_ = conn.Close()
		t.Fatalf("connect %s to %s: %v", id, nd.name, err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Error("paho client did not stop")
		}
	})
	return &client{Client: c, msgs: msgs}, ack.SessionPresent
}

// awaitQueue waits until nd's server knows, from another node's route, the
// queue subscription of group for filter on the subjects that carry QoS ≥ 1
// messages to shared groups ("plume.q…").
func (nd *jsNode) awaitQueue(t *testing.T, filter, group string) {
	t.Helper()
	c, err := subject.New("plume.q") // the fabric's default prefix in these tests
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := c.Filter(filter)
	if err != nil {
		t.Fatal(err)
	}
	queue := subject.Queue(group, filter)
	eventually(t, fmt.Sprintf("%s knows group %q of %q on the queued subjects", nd.name, group, filter), func() bool {
		rz, err := nd.srv.Routez(&server.RoutezOptions{SubscriptionsDetail: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if hasSub(r.SubsDetail, subjects[0], queue) {
				return true
			}
		}
		return false
	})
}
