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
	"go.uber.org/goleak"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/broker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait on a condition: generous, since the machine is shared.
const wait = 20 * time.Second

// node is one Plume node: an in-process nats-server in a cluster, a broker
// with a Fabric on it, serving MQTT on a loopback port.
type node struct {
	name string
	srv  *server.Server
	nc   *nats.Conn
	fab  *fabric.Fabric
	b    *broker.Broker
	addr string
	done chan error
	// dialed counts the clients node.dial made, for their ids.
	dialed int
	// echo: no separate publishing connection (fabric.Config.Publish nil),
	// so the node's own messages come back to it.
	echo bool
}

// startCluster starts n nodes whose nats-servers form one cluster over
// loopback routes, and waits until every server has a route to every other.
func startCluster(t testing.TB, n int) []*node {
	t.Helper()
	return startClusterWith(t, n, false)
}

// startClusterWith is startCluster; echo: without the fabric's publishing
// connection (each node's own messages come back to it).
func startClusterWith(t testing.TB, n int, echo bool) []*node {
	t.Helper()
	nodes := make([]*node, n)
	var seed string
	for i := range nodes {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			// One route per peer (no pool), so that NumRoutes counts peers.
			Cluster: server.ClusterOpts{Name: "plume-test", Host: "127.0.0.1", Port: -1, PoolSize: -1},
		}
		if seed != "" {
			opts.Routes = server.RoutesFromStr(seed)
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats-server: %v", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(wait) {
			t.Fatalf("nats-server n%d not ready", i)
		}
		if seed == "" {
			seed = "nats://" + srv.ClusterAddr().String()
		}
		nodes[i] = &node{name: opts.ServerName, srv: srv, echo: echo}
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	}
	eventually(t, "routes between every pair of servers", func() bool {
		for _, nd := range nodes {
			if nd.srv.NumRoutes() != n-1 {
				return false
			}
		}
		return true
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	return nodes
}

// start connects the node's fabric and broker to its server.
func (nd *node) start(t testing.TB) {
	t.Helper()
	nc, err := nats.Connect(nd.srv.ClientURL(), nats.Name(nd.name))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	log := zerolog.Nop()
	if os.Getenv("PLUME_TEST_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Str("node", nd.name).Logger()
	}
	// As cmd/plume does: a NoEcho connection for the fabric's publishes.
	pc, err := nats.Connect(nd.srv.ClientURL(), nats.Name(nd.name+" publish"), nats.NoEcho())
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	cfg := fabric.Config{Conn: nc, Publish: pc, Log: log}
	if nd.echo {
		cfg.Publish = nil
	}
	fab, err := fabric.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{AllowAnonymous: true, Fabric: fab, SysInterval: -1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := fab.Start(b); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nd.nc, nd.fab, nd.b, nd.addr, nd.done = nc, fab, b, l.Addr().String(), make(chan error, 1)
	go func() { nd.done <- b.Serve(l, "test") }()
	// Cleanups run last-in first-out: the broker stops before the fabric,
	// the fabric before its connection, the connection before its server.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", nd.name, err)
		}
		if err := <-nd.done; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s: Serve: %v", nd.name, err)
		}
		if err := fab.Close(); err != nil {
			t.Errorf("%s: fabric Close: %v", nd.name, err)
		}
		pc.Close()
		nc.Close()
	})
}

// awaitSubs waits until nd's server knows the subscriptions that each node
// of from made for filter (for shared group, when group is not ""): its own
// clients' from its sublist, a peer's from the route to it.
func (nd *node) awaitSubs(t testing.TB, filter, group string, from ...*node) {
	t.Helper()
	c, err := subject.New("plume.m")
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := c.Filter(filter)
	if err != nil {
		t.Fatal(err)
	}
	queue := ""
	if group != "" {
		queue = subject.Queue(group, filter)
	}
	eventually(t, fmt.Sprintf("%s knows %q (group %q) of %d nodes", nd.name, filter, group, len(from)), func() bool {
		rz, err := nd.srv.Routez(&server.RoutezOptions{SubscriptionsDetail: true})
		if err != nil {
			t.Fatal(err)
		}
		sz, err := nd.srv.Subsz(&server.SubszOptions{Subscriptions: true, Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range from {
			list := sz.Subs
			if f != nd {
				list = nil
				for _, r := range rz.Routes {
					if r.RemoteName == f.name {
						list = r.SubsDetail
					}
				}
			}
			for _, s := range subjects {
				if !hasSub(list, s, queue) {
					return false
				}
			}
		}
		return true
	})
}

// awaitNoSubs waits until nd's server no longer knows subscriptions of node
// from for filter (and group).
func (nd *node) awaitNoSubs(t testing.TB, filter, group string, from *node) {
	t.Helper()
	c, err := subject.New("plume.m")
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := c.Filter(filter)
	if err != nil {
		t.Fatal(err)
	}
	queue := ""
	if group != "" {
		queue = subject.Queue(group, filter)
	}
	eventually(t, fmt.Sprintf("%s forgets %q (group %q) of %s", nd.name, filter, group, from.name), func() bool {
		rz, err := nd.srv.Routez(&server.RoutezOptions{SubscriptionsDetail: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName != from.name {
				continue
			}
			for _, s := range subjects {
				if hasSub(r.SubsDetail, s, queue) {
					return false
				}
			}
		}
		return true
	})
}

func hasSub(list []server.SubDetail, subj, queue string) bool {
	for _, d := range list {
		if d.Subject == subj && d.Queue == queue {
			return true
		}
	}
	return false
}

// routeInMsgs is how many messages of the global account (where Plume's
// subjects are; the system account's own traffic is apart) nd's server
// received from its routes.
func (nd *node) routeInMsgs(t testing.TB) int64 {
	t.Helper()
	acc := nd.srv.GlobalAccount().Name
	az, err := nd.srv.AccountStatz(&server.AccountStatzOptions{Accounts: []string{acc}, IncludeUnused: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range az.Accounts {
		if a.Account == acc && a.Received.Routes != nil {
			return a.Received.Routes.Msgs
		}
	}
	return 0
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is a paho.golang (MQTT 5.0) client; what it receives arrives on msgs.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

func dial(t testing.TB, nd *node, id string) *client {
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
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); err != nil {
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
	return &client{Client: c, msgs: msgs}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func (c *client) subscribe(t testing.TB, opts ...paho.SubscribeOptions) {
	t.Helper()
	if _, err := c.Subscribe(ctx(t), &paho.Subscribe{Subscriptions: opts}); err != nil {
		t.Fatal(err)
	}
}

func (c *client) publish(t testing.TB, p *paho.Publish) {
	t.Helper()
	if _, err := c.Publish(ctx(t), p); err != nil {
		t.Fatalf("publish %q: %v", p.Topic, err)
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

// expectNone checks that nothing is waiting; callers first make sure that
// anything that could arrive has (a fence message behind it).
func (c *client) expectNone(t testing.TB) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %q: %q", m.Topic, m.Payload)
	default:
	}
}
