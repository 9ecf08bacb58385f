package fabric_test

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/core/session"
)

// received checks what a subscriber got from several publishers: per
// publisher, payloads "<publisher> <i>" for i from 0, in order, each
// once unless resent with DUP (QoS 1 only). It returns how many distinct
// messages of each publisher arrived.
type received struct {
	mu   sync.Mutex
	next map[string]int
	dups int
}

func (r *received) add(t *testing.T, m *paho.Publish) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	pub, n, ok := strings.Cut(string(m.Payload), " ")
	i, err := strconv.Atoi(n)
	if !ok || err != nil {
		t.Fatalf("payload %q", m.Payload)
	}
	if r.next == nil {
		r.next = map[string]int{}
	}
	switch want := r.next[pub]; {
	case i == want:
		r.next[pub]++
	case i < want && m.Duplicate() && m.QoS == 1:
		r.dups++ // a resend, announced
	case i < want:
		t.Fatalf("%s %d again (QoS %d, DUP %v) after %d: a duplicate without DUP", pub, i, m.QoS, m.Duplicate(), want-1)
	default:
		t.Fatalf("%s %d arrived before %d: lost or out of order", pub, i, want)
	}
}

func (r *received) count(pub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next[pub]
}

// publishN publishes n messages "<id> <i>" at qos from c, each acknowledged
// before the next.
func publishN(t *testing.T, c *client, id, topic string, qos byte, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		c.publish(t, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(fmt.Sprintf("%s %d", id, i))})
	}
}

// QoS 1 and 2 cross nodes through the ingest, in order per publisher, each
// once, without DUP; nothing goes on core NATS for them but for queue
// groups: a node with plain subscriptions only gets no core NATS copy
// (ViaIngest would count it), and a shared group's member still gets each
// message once.
func TestIngestCarriesQoS1And2InOrderAcrossNodes(t *testing.T) {
	nodes := startJSCluster(t, 3, "pa", false)
	sub, _ := dialJS(t, nodes[2], "sub", true)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "in/#", QoS: 2})
	member, _ := dialJS(t, nodes[1], "member", false)
	member.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/in/#", QoS: 1})
	nodes[0].awaitQueue(t, "in/#", "g")
	const each = 150
	var wg sync.WaitGroup
	for i, qos := range []byte{1, 2} {
		pub, _ := dialJS(t, nodes[i], fmt.Sprintf("pub%d", i), false)
		wg.Go(func() { publishN(t, pub, fmt.Sprintf("q%d", qos), fmt.Sprintf("in/%d", i), qos, 0, each) })
	}
	var r received
	for range 2 * each {
		m := sub.expect(t)
		if m.Duplicate() {
			t.Fatalf("DUP on %q: nothing was read again", m.Payload)
		}
		r.add(t, m)
	}
	wg.Wait()
	if r.count("q1") != each || r.count("q2") != each {
		t.Fatalf("got %d QoS 1 and %d QoS 2 messages, want %d each", r.count("q1"), r.count("q2"), each)
	}
	s := nodes[2].fab.Stats()
	if s.Ingested != 2*each {
		t.Fatalf("the subscriber's node routed %d messages from the ingest, want %d (stats %+v)", s.Ingested, 2*each, s)
	}
	if s.ViaIngest != 0 {
		t.Fatalf("the subscriber's node got %d core NATS copies of QoS ≥ 1 messages, ignored: they go to shared groups only", s.ViaIngest)
	}
	seen := map[string]int{}
	for range 2 * each {
		seen[string(member.expect(t).Payload)]++
	}
	if len(seen) != 2*each {
		t.Fatalf("the shared group's member got %d distinct messages of %d", len(seen), 2*each)
	}
	if f := nodes[0].fab.Stats().Forwarded; f != each {
		t.Fatalf("the QoS 1 publisher's node forwarded %d, want %d", f, each)
	}
}

// The subscriber's node stops (as on SIGTERM) while a publisher on another
// node goes on; restarted on the same JetStream state, it resumes its
// consumers at its committed positions: the persistent subscriber gets every
// message acknowledged meanwhile, in order, none twice without DUP, QoS 2
// once.
func TestIngestRestartedNodeGetsWhatWasPublishedWhileItWasDown(t *testing.T) {
	nodes := startJSCluster(t, 3, "pr", false)
	subNode := nodes[2]
	sub, _ := dialJS(t, subNode, "sub", true)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "r/+", QoS: 2})
	p1, _ := dialJS(t, nodes[0], "p1", false)
	p2, _ := dialJS(t, nodes[1], "p2", false)
	const before, during, after = 40, 120, 40
	var r received
	publishN(t, p1, "q1", "r/1", 1, 0, before)
	publishN(t, p2, "q2", "r/2", 2, 0, before)
	for range 2 * before {
		r.add(t, sub.expect(t))
	}
	// The QoS 2 exchanges finished (PUBCOMP): a new paho client keeps no
	// state of the old one's, and would take a resent QoS 2 PUBLISH for a
	// new message.
	eventually(t, "the subscriber's in-flight window empty", func() bool {
		st, ok := subNode.b.SessionStats("sub")
		return ok && st.Inflight == 0
	})

	subNode.stop(t)
	var wg sync.WaitGroup
	wg.Go(func() { publishN(t, p1, "q1", "r/1", 1, before, during) })
	wg.Go(func() { publishN(t, p2, "q2", "r/2", 2, before, during) })
	wg.Wait() // every one acknowledged while the subscriber's node was down

	subNode.start(t)
	sub2, present := dialJS(t, subNode, "sub", true)
	if !present {
		t.Fatal("session_present=0 after the node's restart: its session was not loaded")
	}
	wg.Go(func() { publishN(t, p1, "q1", "r/1", 1, before+during, after) })
	wg.Go(func() { publishN(t, p2, "q2", "r/2", 2, before+during, after) })
	total := before + during + after
	for r.count("q1") < total || r.count("q2") < total {
		r.add(t, sub2.expect(t))
	}
	wg.Wait()
	sub2.expectNone(t)
}

// A node restarted before it routed its first message of a shard — the
// stream was empty when it first read it, so its committed position there
// is 0 — gets what was published while it was down, as any restarted node
// does. Before, a committed 0 was taken for no position at all, the
// consumer started at the stream's end, and the node's sessions missed
// every message published meanwhile (TestFaultKill9 seed
// 1796066200031605877: s1 lost 40 messages).
func TestIngestNodeRestartedBeforeItsFirstMessageGetsWhatWasPublishedMeanwhile(t *testing.T) {
	nodes := startJSCluster(t, 3, "pz", false)
	subNode := nodes[2]
	sub, _ := dialJS(t, subNode, "sub", true)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "z/+", QoS: 2})
	subNode.stop(t) // nothing published yet: its positions are all 0

	p1, _ := dialJS(t, nodes[0], "p1", false)
	const n = 20
	publishN(t, p1, "z", "z/1", 2, 0, n) // acknowledged while the node is down

	subNode.start(t)
	sub2, present := dialJS(t, subNode, "sub", true)
	if !present {
		t.Fatal("session_present=0 after the node's restart: its session was not loaded")
	}
	var r received
	for r.count("z") < n {
		r.add(t, sub2.expect(t))
	}
	sub2.expectNone(t)
}

// CatchUp reads, for a session that moves here, the range between another
// node's positions and this node's, under the session's filters, in order
// per publisher, marked redelivered; the session is installed first, with the consumers paused.
func TestCatchUpReadsTheRangeUnderTheFilters(t *testing.T) {
	nodes := startJSCluster(t, 3, "pc", false)
	c := nodes[2]
	from := c.fab.Positions()
	if len(from) != 4 {
		t.Fatalf("positions %v, want one per shard (4)", from)
	}
	p1, _ := dialJS(t, nodes[0], "cp1", false)
	p2, _ := dialJS(t, nodes[1], "cp2", false)
	const each = 30
	publishN(t, p1, "a", "c/1", 1, 0, each)
	publishN(t, p2, "b", "c/2", 2, 0, each)
	publishN(t, p1, "x", "elsewhere", 1, 0, each)
	eventually(t, "the third node read every message", func() bool { return c.fab.Stats().Ingested == 3*each })

	var r received
	installed := false
	err := c.fab.CatchUp(ctx(t), from, nil, fabric.Own{}, func() []string { installed = true; return []string{"c/+"} }, func(m *session.Message) {
		if !installed {
			t.Error("deliver before install")
		}
		if !m.Redelivered {
			t.Errorf("%q not marked redelivered", m.Payload)
		}
		r.add(t, &paho.Publish{Topic: m.Topic, QoS: m.QoS, Payload: m.Payload})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !installed || r.count("a") != each || r.count("b") != each || r.count("x") != 0 {
		t.Fatalf("installed %v; caught up a:%d b:%d x:%d, want %d, %d, 0", installed, r.count("a"), r.count("b"), r.count("x"), each, each)
	}
	// Nothing past this node's positions: a range from them is empty.
	var none int
	if err := c.fab.CatchUp(ctx(t), c.fab.Positions(), nil, fabric.Own{}, all, func(*session.Message) { none++ }); err != nil || none != 0 {
		t.Fatalf("catch-up from the live positions: %d messages, %v", none, err)
	}
}

// CatchUp from positions ahead of this node waits until it has routed up
// to them: the old owner had those messages, live routing must not give
// them again.
func TestCatchUpWaitsForPositionsAheadOfThisNode(t *testing.T) {
	nodes := startJSCluster(t, 3, "pw", false)
	c := nodes[2]
	from := c.fab.Positions()
	h := fnv.New32a()
	h.Write([]byte("wp1"))
	k := int(h.Sum32() % 4) // the publisher's shard (store/jetstream's rule)
	from[k] += 3
	done := make(chan error, 1)
	var got int
	go func() {
		done <- c.fab.CatchUp(ctx(t), from, nil, fabric.Own{}, all, func(*session.Message) { got++ })
	}()
	p, _ := dialJS(t, nodes[0], "wp1", false)
	publishN(t, p, "w", "w/1", 1, 0, 3)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got != 0 {
		t.Fatalf("%d messages caught up, want none: the range (from, here] is empty", got)
	}
	if pos := c.fab.Positions(); pos[k] < from[k] {
		t.Fatalf("returned at %v, before %v", pos, from)
	}
}

// all is an install that subscribes to everything.
func all() []string { return []string{"#"} }
