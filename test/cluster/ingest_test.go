package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// The subscriber's node is killed (-9) while a publisher on another node
// goes on; restarted, it resumes reading the ingest at its committed
// positions (decision 0055): the persistent subscriber, back on it, gets
// every message the publisher saw acknowledged — resends with DUP allowed,
// nothing twice without it but what the publisher itself sent twice.
func TestKilledSubscriberNodeDeliversEveryAcknowledgedMessage(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n3 := c.nodes[0], c.nodes[2]

	got := newTally()
	sub, present := dialPaho(t, n3, "ingest-sub", true, got)
	if present {
		t.Fatal("session_present=1 on the first connection")
	}
	if _, err := sub.Subscribe(waitCtx(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "k/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	const total = 400
	pub := &stubbornPublisher{t: t, nd: n1, id: "ingest-pub", retried: map[int]bool{}}
	pub.connect()
	// A retained message on the fabric's broadcast: n3 must still load its
	// store when it restarts (the store's retained stream once took the
	// broadcast's subjects for its own, and Load failed on them).
	if _, err := pub.c.Publish(waitCtx(t), &paho.Publish{Topic: "state/n1", Retain: true, Payload: []byte("on")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			pub.send(i)
		}
	}()

	// Mid-stream: once the subscriber has some, its node dies.
	got.await(t, func() bool { return got.distinct() >= 60 }, "60 messages before the kill")
	n3.kill()
	<-done // every message acknowledged by n1, some while n3 was down
	n3.start()
	c.awaitFormed()

	sub2, present := dialPaho(t, n3, "ingest-sub", true, got)
	if !present {
		t.Fatal("session_present=0 after the restart: the session was lost")
	}
	_ = sub2
	got.await(t, func() bool { return got.distinct() >= total }, fmt.Sprintf("all %d acknowledged messages", total))
	got.check(t, total, pub.retriedSet())
}

// tally is what a subscriber received: payload "i" → copies, with or
// without DUP.
type tally struct {
	mu      sync.Mutex
	changed chan struct{}
	plain   map[int]int // copies without DUP
	dup     map[int]int // copies with DUP
}

func newTally() *tally {
	return &tally{changed: make(chan struct{}), plain: map[int]int{}, dup: map[int]int{}}
}

func (g *tally) add(p *paho.Publish) {
	i, err := strconv.Atoi(string(p.Payload))
	if err != nil {
		i = -1
	}
	g.mu.Lock()
	if p.Duplicate() {
		g.dup[i]++
	} else {
		g.plain[i]++
	}
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}

func (g *tally) distinct() int {
	n := 0
	for i := range g.plain {
		if i >= 0 {
			n++
		}
	}
	for i := range g.dup {
		if _, ok := g.plain[i]; !ok && i >= 0 {
			n++
		}
	}
	return n
}

// await waits until cond (called with g.mu held) holds.
func (g *tally) await(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		ok, ch, n := cond(), g.changed, g.distinct()
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			g.mu.Lock()
			defer g.mu.Unlock()
			var missing []int
			for i := range 1000 {
				if g.plain[i]+g.dup[i] == 0 && len(missing) < 50 {
					missing = append(missing, i)
				}
			}
			t.Fatalf("waited %s for %s: %d distinct; first missing: %v", waitFor, what, n, missing)
		}
	}
}

// check: every message 0..total-1 arrived; none more than once without
// DUP, unless the publisher sent it twice (it resent after losing its
// connection: a new message to the broker).
func (g *tally) check(t *testing.T, total int, retried map[int]bool) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	dups := 0
	for i := range total {
		switch {
		case g.plain[i]+g.dup[i] == 0:
			t.Errorf("message %d acknowledged to the stubbornPublisher, never delivered", i)
		case g.plain[i] > 1 && !retried[i]:
			t.Errorf("message %d delivered %d times without DUP", i, g.plain[i])
		}
		dups += g.dup[i]
	}
	t.Logf("%d messages, %d copies with DUP, %d resent by the stubbornPublisher", total, dups, len(retried))
}

// publisher sends QoS 1 messages to one node, each until acknowledged,
// reconnecting when the node closes the connection (a commit that failed
// withholds the PUBACK, decision 0019).
type stubbornPublisher struct {
	t       *testing.T
	nd      *node
	id      string
	c       *paho.Client
	mu      sync.Mutex
	retried map[int]bool
}

func (p *stubbornPublisher) connect() {
	deadline := time.Now().Add(waitFor)
	for {
		c, _, err := connectPaho(p.nd, p.id, false, nil)
		if err == nil {
			p.c = c
			return
		}
		if time.Now().After(deadline) {
			p.t.Errorf("stubbornPublisher: %v", err)
			return
		}
	}
}

func (p *stubbornPublisher) send(i int) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.mu.Lock()
			p.retried[i] = true
			p.mu.Unlock()
			_ = p.c.Disconnect(&paho.Disconnect{})
			p.connect()
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		_, err := p.c.Publish(ctx, &paho.Publish{Topic: "k/" + strconv.Itoa(i%7), QoS: 1, Payload: []byte(strconv.Itoa(i))})
		cancel()
		if err == nil {
			return
		}
		if attempt > 5 {
			p.t.Errorf("publish %d: %v", i, err)
			return
		}
	}
}

func (p *stubbornPublisher) retriedSet() map[int]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retried
}

// connectPaho connects a paho.golang client to nd: persistent asks for a
// session kept an hour (clean start 0). Received messages go to into.
func connectPaho(nd *node, id string, persistent bool, into *tally) (*paho.Client, bool, error) {
	conn, err := net.DialTimeout("tcp", nd.mqtt, waitFor)
	if err != nil {
		return nil, false, err
	}
	cfg := paho.ClientConfig{Conn: conn}
	if into != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { into.add(pr.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: id, CleanStart: !persistent, KeepAlive: 60}
	if persistent {
		expiry := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		return nil, false, err
	}
	return c, ack.SessionPresent, nil
}

func dialPaho(t *testing.T, nd *node, id string, persistent bool, into *tally) (*paho.Client, bool) {
	t.Helper()
	c, present, err := connectPaho(nd, id, persistent, into)
	if err != nil {
		t.Fatalf("connect %s to %s: %v", id, nd.name, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, present
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
