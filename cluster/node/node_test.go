package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// waitFor bounds every awaited condition: generous, the machine is shared.
const waitFor = 60 * time.Second

// freeAddrs reserves n loopback ports and frees them for the servers.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return addrs
}

// testConfigs is a cluster of n nodes on loopback, validated.
func testConfigs(t testing.TB, n int) []Config {
	t.Helper()
	// Client ports are reserved with the route ports: left to the default
	// (127.0.0.1:0), one node's client listener once took a route port
	// reserved and freed here before its own router bound it.
	addrs := freeAddrs(t, 2*n)
	routes := addrs[:n]
	dir := t.TempDir()
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = Config{Name: "test", Node: fmt.Sprintf("n%d", i+1), Listen: routes[i], Peers: routes,
			ClientListen: addrs[n+i], DataDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), StartTimeout: waitFor}
		if err := cfgs[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return cfgs
}

// startAll starts every node at once, as processes on several hosts would;
// each is closed at the end of the test.
func startAll(t *testing.T, cfgs []Config) []*Node {
	t.Helper()
	return startWith(t, cfgs, func(c Config) zerolog.Logger {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Str("node", c.Node).Logger()
	})
}

// startWith starts every node at once with its logger from logFor.
func startWith(t testing.TB, cfgs []Config, logFor func(Config) zerolog.Logger) []*Node {
	t.Helper()
	nodes := make([]*Node, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() {
			nodes[i], errs[i] = Start(context.Background(), cfgs[i], logFor(cfgs[i]))
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if n != nil {
			t.Cleanup(func() { _ = n.Close(context.Background()) })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// eventually waits until cond holds, failing with what it last said.
func eventually(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		what := cond()
		if what == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", waitFor, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

func upNames(n *Node) string {
	var up []string
	for _, m := range n.Members() {
		if m.Up {
			up = append(up, m.Name)
		}
	}
	return strings.Join(up, ",")
}

func TestThreeNodesFormAClusterWithReplicatedJetStream(t *testing.T) {
	cfgs := testConfigs(t, 3)
	nodes := startAll(t, cfgs)
	for _, n := range nodes {
		if err := n.Ready(); err != nil {
			t.Fatalf("%s after Start: %v", n.Name(), err)
		}
		if n.Replicas() != 3 {
			t.Errorf("%s: replicas %d, want 3 (the default for 3 nodes)", n.Name(), n.Replicas())
		}
	}
	// Start waits for the routes to every peer that answers: all three
	// started together, so each sees all three.
	for _, n := range nodes {
		eventually(t, func() string {
			if got := upNames(n); got != "n1,n2,n3" {
				return n.Name() + " sees up: " + got
			}
			return ""
		})
	}
	leader := nodes[0].Health().MetaLeader
	for _, n := range nodes[1:] {
		if got := n.Health().MetaLeader; got != leader {
			t.Errorf("%s sees meta leader %q, n1 %q", n.Name(), got, leader)
		}
	}

	// A stream made on one node with R3 is replicated and readable on another.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := nodes[0].JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: nodes[0].Replicas()})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.CachedInfo().Cluster.Replicas); got != 2 {
		t.Errorf("stream has %d replicas besides its leader, want 2", got)
	}
	// A new R3 stream answers no publish until its group has elected a
	// leader, a moment after CreateStream returns: ask again meanwhile.
	for {
		_, err := nodes[0].JetStream().Publish(ctx, "t.x", []byte("hello"))
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrNoStreamResponse) || ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s3, err := nodes[2].JetStream().Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s3.GetLastMsgForSubject(ctx, "t.x")
	if err != nil || string(m.Data) != "hello" {
		t.Fatalf("n3 reads %v, %v; want hello", m, err)
	}

	// A node that leaves is seen down by the others, who keep a majority.
	if err := nodes[2].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		eventually(t, func() string {
			if got := upNames(n); got != "n1,n2" {
				return n.Name() + " sees up: " + got
			}
			if err := n.Ready(); err != nil {
				return n.Name() + ": " + err.Error()
			}
			return ""
		})
		if h := n.Health(); h.Members != 3 || h.Up != 2 {
			t.Errorf("%s health %+v, want 3 members, 2 up", n.Name(), h)
		}
	}
}

func TestStartGivesUpWithoutAMajority(t *testing.T) {
	cfgs := testConfigs(t, 3)
	cfg := cfgs[0]
	cfg.StartTimeout = 3 * time.Second // its peers never start: no meta leader can be elected
	start := time.Now()
	n, err := Start(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err == nil {
		_ = n.Close(context.Background())
		t.Fatal("Start of one node of three succeeded; want it to wait for a majority and give up")
	}
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "meta leader") {
		t.Errorf("error %q: want ErrNotReady naming the meta leader it waited for", err)
	}
	if took := time.Since(start); took > waitFor {
		t.Errorf("Start took %s to give up, timeout %s", took, cfg.StartTimeout)
	}
	// Nothing is left running: the route port is free again.
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatalf("the route port is still held after a failed Start: %v", err)
	}
	_ = l.Close()
}

func TestASingleNodeWithoutPeersRunsJetStreamAlone(t *testing.T) {
	cfg := testConfigs(t, 1)[0]
	cfg.Peers = nil
	n := startAll(t, []Config{cfg})[0]
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if n.Replicas() != 1 {
		t.Errorf("replicas %d, want 1", n.Replicas())
	}
	if n.ClientURL() == "" || !strings.Contains(n.ClientURL(), "127.0.0.1") {
		t.Errorf("client URL %q: want a loopback listener by default", n.ClientURL())
	}
}

// With nats_url the node embeds nothing: it connects to the cluster the
// user runs (here one nats-server of the test's own) and waits for its
// JetStream.
func TestExternalClusterConnects(t *testing.T) {
	_, cfg := runExternal(t, t.TempDir())
	n := startAll(t, []Config{cfg})[0]
	if n.Name() != "ext" || n.Replicas() != 1 || n.ClientURL() != "" {
		t.Errorf("name %q, replicas %d, client URL %q; want ext, 1 (one server), none", n.Name(), n.Replicas(), n.ClientURL())
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if m := n.Members(); len(m) != 1 || m[0].Name != "ext" || !m[0].Up {
		t.Errorf("members %+v, want the server it is connected to, up", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := n.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ext"}); err != nil {
		t.Fatal(err)
	}
	// Replicas above the servers it announced are refused at Start.
	cfg.Replicas = 3
	if _, err := Start(context.Background(), cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "replicas 3") {
		t.Errorf("Start with replicas 3 on one server: %v, want a refusal naming replicas", err)
	}
}

// runExternal runs a nats-server with JetStream, storing under dir, as the
// NATS the user runs, and returns it with a validated nats_url section.
func runExternal(t *testing.T, dir string) (*server.Server, Config) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{ServerName: "ext", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(waitFor) {
		t.Fatal("the external server did not start")
	}
	cfg := Config{NATSURL: srv.ClientURL()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return srv, cfg
}
