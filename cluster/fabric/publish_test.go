package fabric_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
)

// TestNodeGetsNoOwnMessagesBack: with its publishing connection (NoEcho), a
// node that has local subscribers to what it publishes is not sent its own
// messages back by NATS (decision 0058), and every subscriber, here and on
// the other node, still gets each message once.
func TestNodeGetsNoOwnMessagesBack(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	here := dial(t, a, "here")
	here.subscribe(t, paho.SubscribeOptions{Topic: "e/#", QoS: 1})
	there := dial(t, b, "there")
	there.subscribe(t, paho.SubscribeOptions{Topic: "e/#", QoS: 1})
	a.awaitSubs(t, "e/#", "", b)
	b.awaitSubs(t, "e/#", "", a)
	p := dial(t, a, "pub")
	const n = 50
	for i := range n {
		p.publish(t, &paho.Publish{Topic: "e/x", QoS: byte(i % 2), Payload: []byte(strconv.Itoa(i))})
	}
	for _, c := range []*client{here, there} {
		for i := range n {
			if m := c.expect(t); string(m.Payload) != strconv.Itoa(i) {
				t.Fatalf("got %q, want %d", m.Payload, i)
			}
		}
	}
	// A fence from B: it reached A after anything A's own publishes could
	// have echoed (one connection, in order).
	q := dial(t, b, "fence")
	q.publish(t, &paho.Publish{Topic: "e/fence", QoS: 1})
	if m := here.expect(t); m.Topic != "e/fence" {
		t.Fatalf("here got %q, want the fence", m.Topic)
	}
	there.expect(t)
	here.expectNone(t)
	if own := a.fab.Stats().Own; own != 0 {
		t.Fatalf("node A was sent %d of its own %d messages back", own, n)
	}
}

// TestWithoutPublishConnOwnMessagesComeBackAndAreDropped: the fallback
// (Config.Publish nil) still routes each message once.
func TestWithoutPublishConnOwnMessagesComeBackAndAreDropped(t *testing.T) {
	nodes := startClusterWith(t, 2, true)
	a, b := nodes[0], nodes[1]
	here := dial(t, a, "here")
	here.subscribe(t, paho.SubscribeOptions{Topic: "e/#", QoS: 1})
	b.awaitSubs(t, "e/#", "", a)
	p := dial(t, a, "pub")
	const n = 20
	for i := range n {
		p.publish(t, &paho.Publish{Topic: "e/x", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	for range n {
		here.expect(t)
	}
	eventually(t, "every own message back and dropped", func() bool { return a.fab.Stats().Own == n })
	here.expectNone(t)
}

// TestSharedGroupPicksThePublishingNode: the group's only member is on the
// publisher's node; the queue subscriptions stay on the echoing connection,
// so NATS can pick this node for its own messages and the member gets all.
func TestSharedGroupPicksThePublishingNode(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	member := dial(t, a, "member")
	member.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/sg/#", QoS: 1})
	b.awaitSubs(t, "sg/#", "g", a)
	p := dial(t, a, "pub")
	const n = 30
	for i := range n {
		p.publish(t, &paho.Publish{Topic: "sg/x", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	for range n {
		member.expect(t)
	}
}

// TestConcurrentPublishersOnOneNodeOverOverlappingFilters: Publish takes no
// lock, so one node's sequence numbers reach NATS out of order across its
// publishers; every message still reaches a subscriber with two matching
// filters once, in each publisher's order.
func TestConcurrentPublishersOnOneNodeOverOverlappingFilters(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	sub := dial(t, b, "overlap")
	sub.subscribe(t, paho.SubscribeOptions{Topic: "c/#", QoS: 1}, paho.SubscribeOptions{Topic: "c/+", QoS: 1})
	a.awaitSubs(t, "c/#", "", b)
	a.awaitSubs(t, "c/+", "", b)
	const pubs, n = 4, 200
	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	for i := range pubs {
		p := dial(t, a, fmt.Sprintf("cp-%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				if _, err := p.Publish(ctx(t), &paho.Publish{Topic: "c/" + strconv.Itoa(i), QoS: 0, Payload: []byte(strconv.Itoa(j))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := map[string]int{}
	for range pubs * n {
		m := sub.expect(t)
		got, _ := strconv.Atoi(string(m.Payload))
		if got != next[m.Topic] {
			t.Fatalf("%s: got %d, want %d (lost, twice or out of order)", m.Topic, got, next[m.Topic])
		}
		next[m.Topic]++
	}
	// Each message came twice (two filters match): one copy routed, the
	// other dropped; a copy taken for a new message would be routed twice.
	eventually(t, "every second copy dropped", func() bool { return b.fab.Stats().Duplicates == pubs*n })
	if st := b.fab.Stats(); st.Routed != pubs*n {
		t.Fatalf("routed %d, want %d", st.Routed, pubs*n)
	}
	sub.expectNone(t)
}

func TestNewRejectsAPublishConnThatEchoes(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(wait) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	echoing, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(echoing.Close)
	if _, err := fabric.New(fabric.Config{Conn: nc, Publish: echoing, Log: zerolog.Nop()}); err == nil ||
		!strings.Contains(err.Error(), "NoEcho") {
		t.Fatalf("New with an echoing publish connection: %v, want an error naming NoEcho", err)
	}
}
