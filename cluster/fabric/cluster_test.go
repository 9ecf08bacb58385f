package fabric_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

func TestCrossNodeDeliveryAtEveryQoS(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s2 := dial(t, c, "sub-qos2")
	s2.subscribe(t, paho.SubscribeOptions{Topic: "q/#", QoS: 2})
	s1 := dial(t, b, "sub-qos1")
	s1.subscribe(t, paho.SubscribeOptions{Topic: "q/+", QoS: 1})
	a.awaitSubs(t, "q/#", "", c)
	a.awaitSubs(t, "q/+", "", b)
	p := dial(t, a, "pub")
	for qos := byte(0); qos <= 2; qos++ {
		p.publish(t, &paho.Publish{Topic: "q/x", QoS: qos, Payload: []byte{'0' + qos}})
	}
	for qos := byte(0); qos <= 2; qos++ {
		m := s2.expect(t)
		if m.QoS != qos || string(m.Payload) != string('0'+rune(qos)) {
			t.Fatalf("on C: QoS %d %q, want QoS %d %q", m.QoS, m.Payload, qos, '0'+qos)
		}
		m = s1.expect(t)
		if want := min(qos, 1); m.QoS != want || m.Payload[0] != '0'+qos {
			t.Fatalf("on B: QoS %d %q, want QoS %d (granted 1)", m.QoS, m.Payload, want)
		}
	}
}

// TestCrossNodeOrderPerPublisher: each publisher's messages arrive in the
// order it sent them, on every node, over overlapping filters (which make
// NATS send the subscriber's node more than one copy).
func TestCrossNodeOrderPerPublisher(t *testing.T) {
	nodes := startCluster(t, 3)
	const n = 300
	sub := dial(t, nodes[2], "orders")
	sub.subscribe(t, paho.SubscribeOptions{Topic: "o/#", QoS: 1}, paho.SubscribeOptions{Topic: "o/+", QoS: 1})
	for _, nd := range nodes[:2] {
		nd.awaitSubs(t, "o/#", "", nodes[2])
		nd.awaitSubs(t, "o/+", "", nodes[2])
	}
	pubs := []*client{dial(t, nodes[0], "pa"), dial(t, nodes[1], "pb")}
	errs := make(chan error, 2)
	for i, p := range pubs {
		go func() {
			for j := range n {
				if _, err := p.Publish(ctx(t), &paho.Publish{Topic: "o/" + strconv.Itoa(i), QoS: byte(j % 2), Payload: []byte(strconv.Itoa(j))}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int{}
	for range 2 * n {
		m := sub.expect(t)
		got, _ := strconv.Atoi(string(m.Payload))
		if got != next[m.Topic] {
			t.Fatalf("%s: got %d, want %d", m.Topic, got, next[m.Topic])
		}
		next[m.Topic]++
	}
	sub.expectNone(t)
	// Each message came twice (two filters match) and was routed once; the
	// last copies may still be on their way.
	eventually(t, "every second copy dropped as a duplicate", func() bool { return nodes[2].fab.Stats().Duplicates == 2*n })
}

func TestCrossNodeNoLocalByPublisherClientID(t *testing.T) {
	nodes := startCluster(t, 2)
	self := dial(t, nodes[1], "same-id")
	self.subscribe(t, paho.SubscribeOptions{Topic: "nl/#", QoS: 1, NoLocal: true})
	other := dial(t, nodes[1], "other")
	other.subscribe(t, paho.SubscribeOptions{Topic: "nl/#", QoS: 1})
	nodes[0].awaitSubs(t, "nl/#", "", nodes[1])
	// The same client id on another node (there is no cross-node takeover yet).
	p := dial(t, nodes[0], "same-id")
	p.publish(t, &paho.Publish{Topic: "nl/a", QoS: 1, Payload: []byte("mine")})
	q := dial(t, nodes[0], "q")
	q.publish(t, &paho.Publish{Topic: "nl/b", QoS: 1, Payload: []byte("fence")})
	if m := other.expect(t); m.Topic != "nl/a" {
		t.Fatalf("other got %q first", m.Topic)
	}
	other.expect(t)
	if m := self.expect(t); m.Topic != "nl/b" {
		t.Fatalf("[MQTT-3.8.3-3] No Local: %q came back to its publisher's client id", m.Topic)
	}
}

func TestSharedSubscriptionBalancesAcrossNodesAndDeliversOnce(t *testing.T) {
	nodes := startCluster(t, 3)
	const n = 300
	members := make([]*client, len(nodes))
	for i, nd := range nodes {
		members[i] = dial(t, nd, fmt.Sprintf("member-%d", i))
		members[i].subscribe(t, paho.SubscribeOptions{Topic: "$share/g/sh/#", QoS: 1})
	}
	all := dial(t, nodes[1], "everything")
	all.subscribe(t, paho.SubscribeOptions{Topic: "sh/+", QoS: 1})
	// The publisher's server knows every node's queue subscription and the plain one.
	nodes[0].awaitSubs(t, "sh/#", "g", nodes...)
	nodes[0].awaitSubs(t, "sh/+", "", nodes[1])
	p := dial(t, nodes[0], "pub")
	for i := range n {
		p.publish(t, &paho.Publish{Topic: "sh/x", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	for range n {
		all.expect(t) // every message has crossed; the group's copies went the same way
	}
	eventually(t, "every shared message delivered", func() bool {
		total := 0
		for _, m := range members {
			total += len(m.msgs)
		}
		return total >= n
	})
	seen := map[string]int{}
	counts := make([]int, len(members))
	for i, m := range members {
		counts[i] = len(m.msgs)
	}
	t.Logf("members on nodes 0 (the publisher's), 1, 2 got %v of %d", counts, n)
	for i, m := range members {
		got := len(m.msgs)
		if got == 0 {
			t.Errorf("member on node %d got none of %d: not balanced across nodes", i, n)
		}
		for range got {
			seen[string((<-m.msgs).Payload)]++
		}
	}
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("message %d delivered %d times to the group, want once", i, c)
		}
	}
}

func TestRetainedSetOnOneNodeReachesNewSubscribersOnOthers(t *testing.T) {
	nodes := startCluster(t, 3)
	live := dial(t, nodes[2], "live")
	live.subscribe(t, paho.SubscribeOptions{Topic: "r/+/*", QoS: 1})
	member := dial(t, nodes[1], "member")
	member.subscribe(t, paho.SubscribeOptions{Topic: "$share/g/r/#", QoS: 1})
	nodes[0].awaitSubs(t, "r/+/*", "", nodes[2])
	nodes[0].awaitSubs(t, "r/#", "g", nodes[1])
	nodes[1].awaitSubs(t, "r/#", "g", nodes[1])
	p := dial(t, nodes[0], "pub")
	p.publish(t, &paho.Publish{Topic: "r/a.b/*", QoS: 1, Retain: true, Payload: []byte("kept")})
	// A live subscriber gets it with RETAIN 0 (no Retain As Published)
	// [MQTT-3.3.1-9]; the shared group's member, through the queue group, too.
	if m := live.expect(t); m.Topic != "r/a.b/*" || m.Retain {
		t.Fatalf("live subscriber on C got %q retain=%v", m.Topic, m.Retain)
	}
	if m := member.expect(t); m.Topic != "r/a.b/*" {
		t.Fatalf("shared member on B got %q", m.Topic)
	}
	p.publish(t, &paho.Publish{Topic: "r/gone", QoS: 1, Retain: true, Payload: []byte("soon cleared")})
	// Two nodes' writes to one topic are ordered by nothing between them
	// (decision 0052): clear it once every node has the value.
	for _, nd := range nodes {
		eventually(t, "both retained on "+nd.name, func() bool { return nd.b.Stats().Retained == 2 })
	}
	nodes[1].dial(t).publish(t, &paho.Publish{Topic: "r/gone", QoS: 1, Retain: true})
	eventually(t, "retained index on C", func() bool { return nodes[2].b.Stats().Retained == 1 })
	s := dial(t, nodes[2], "late")
	s.subscribe(t, paho.SubscribeOptions{Topic: "r/#", QoS: 1})
	m := s.expect(t)
	if m.Topic != "r/a.b/*" || string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("late subscriber on C got %q %q retain=%v", m.Topic, m.Payload, m.Retain)
	}
	// The member got r/gone twice (set, cleared) and nothing more.
	for range 2 {
		if m := member.expect(t); m.Topic != "r/gone" {
			t.Fatalf("shared member got %q", m.Topic)
		}
	}
	member.expectNone(t)
}

func TestPropertiesAndExpiryCrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	s := dial(t, nodes[1], "s")
	s.subscribe(t, paho.SubscribeOptions{Topic: "props", QoS: 1})
	nodes[0].awaitSubs(t, "props", "", nodes[1])
	expiry := uint32(100)
	p := dial(t, nodes[0], "p")
	p.publish(t, &paho.Publish{Topic: "props", QoS: 1, Payload: []byte("x"), Properties: &paho.PublishProperties{
		MessageExpiry: &expiry, ContentType: "text/plain", ResponseTopic: "re/ply", CorrelationData: []byte{1, 2},
		User: paho.UserProperties{{Key: "k", Value: "v"}},
	}})
	m := s.expect(t)
	pp := m.Properties
	if pp == nil || pp.ContentType != "text/plain" || pp.ResponseTopic != "re/ply" || string(pp.CorrelationData) != "\x01\x02" ||
		len(pp.User) != 1 || pp.User[0] != (paho.UserProperty{Key: "k", Value: "v"}) {
		t.Fatalf("properties across nodes: %+v", pp)
	}
	// [MQTT-3.3.2-6] the expiry left, not more.
	if pp.MessageExpiry == nil || *pp.MessageExpiry == 0 || *pp.MessageExpiry > expiry {
		t.Fatalf("message expiry %v, want 1..%d", pp.MessageExpiry, expiry)
	}
}

// dial on a node with a fresh client id, for one-off publishers.
func (nd *node) dial(t testing.TB) *client {
	t.Helper()
	nd.dialed++
	return dial(t, nd, fmt.Sprintf("%s-client-%d", nd.name, nd.dialed))
}

func TestWildcardsAndAwkwardTopicsCrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	s := dial(t, nodes[1], "s")
	s.subscribe(t, paho.SubscribeOptions{Topic: "w/+/c/#", QoS: 1}, paho.SubscribeOptions{Topic: "+/+", QoS: 1},
		paho.SubscribeOptions{Topic: "/#", QoS: 1})
	for _, f := range []string{"w/+/c/#", "+/+", "/#"} {
		nodes[0].awaitSubs(t, f, "", nodes[1])
	}
	p := dial(t, nodes[0], "p")
	match := []string{"w/x", "w/x.y/c", "w/*/c/>", "w/ /c/d e", "w//c", "w/é/c/", "a.b/*", "/", "//x", "$x/y"}
	noMatch := []string{"w/x/d", "a/b/c", "$x/y/z", "x.y"}
	for _, topic := range append(noMatch, match...) {
		p.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
	}
	var got []string
	for range len(match) - 1 { // "$x/y" is not matched by "+/+" [MQTT-4.7.2-1]
		got = append(got, s.expect(t).Topic)
	}
	p.publish(t, &paho.Publish{Topic: "w/fence/c", QoS: 1})
	if m := s.expect(t); m.Topic != "w/fence/c" {
		got = append(got, m.Topic)
	}
	if want := strings.Join(match[:len(match)-1], " | "); strings.Join(got, " | ") != want {
		t.Fatalf("got    %s\nwant   %s", strings.Join(got, " | "), want)
	}
}

func TestNoMessageCrossesToANodeWithoutInterest(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := dial(t, c, "only-c")
	s.subscribe(t, paho.SubscribeOptions{Topic: "only/c/#", QoS: 1})
	a.awaitSubs(t, "only/c/#", "", c)
	beforeB, beforeC := b.routeInMsgs(t), c.routeInMsgs(t)
	p := dial(t, a, "p")
	const n = 50
	for i := range n {
		p.publish(t, &paho.Publish{Topic: "only/c/x", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	// A retained fence goes to every node, behind the messages on each route.
	p.publish(t, &paho.Publish{Topic: "fence", QoS: 1, Retain: true, Payload: []byte("f")})
	for range n {
		s.expect(t)
	}
	eventually(t, "the fence on B", func() bool { return b.b.Stats().Retained == 1 })
	eventually(t, "the fence on C", func() bool { return c.b.Stats().Retained == 1 })
	if got := b.routeInMsgs(t) - beforeB; got != 1 {
		t.Fatalf("B, without interest, received %d messages from its routes, want 1 (the retained fence)", got)
	}
	if got := c.routeInMsgs(t) - beforeC; got != n+1 {
		t.Fatalf("C received %d messages from its routes, want %d", got, n+1)
	}
}

func TestWillCrossesNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	s := dial(t, nodes[1], "watcher")
	s.subscribe(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	nodes[0].awaitSubs(t, "will/#", "", nodes[1])
	conn, err := net.DialTimeout("tcp", nodes[0].addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx(t), &paho.Connect{ClientID: "dying", CleanStart: true, KeepAlive: 60,
		WillMessage: &paho.WillMessage{Topic: "will/dying", QoS: 1, Payload: []byte("gone")}}); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close() // no DISCONNECT: the will is published [MQTT-3.1.2-8]
	<-c.Done()
	if m := s.expect(t); m.Topic != "will/dying" || string(m.Payload) != "gone" {
		t.Fatalf("got %q %q, want the will", m.Topic, m.Payload)
	}
}

// TestInterestGoesWithTheLastSubscriber: when the last subscriber of a
// filter, or the last member of a group, leaves a node, the node's NATS
// subscriptions go, and messages stop crossing to it.
func TestInterestGoesWithTheLastSubscriber(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	s1, s2 := dial(t, b, "s1"), dial(t, b, "s2")
	for _, s := range []*client{s1, s2} {
		s.subscribe(t, paho.SubscribeOptions{Topic: "gone/#", QoS: 1}, paho.SubscribeOptions{Topic: "$share/g/gone/+", QoS: 1})
	}
	a.awaitSubs(t, "gone/#", "", b)
	a.awaitSubs(t, "gone/+", "g", b)
	if _, err := s1.Unsubscribe(ctx(t), &paho.Unsubscribe{Topics: []string{"gone/#", "$share/g/gone/+"}}); err != nil {
		t.Fatal(err)
	}
	// s2 still holds both: the interest stays.
	p := dial(t, a, "p")
	p.publish(t, &paho.Publish{Topic: "gone/x", QoS: 1, Payload: []byte("1")})
	for range 2 {
		if m := s2.expect(t); m.Topic != "gone/x" {
			t.Fatalf("s2 got %q", m.Topic)
		}
	}
	if _, err := s2.Unsubscribe(ctx(t), &paho.Unsubscribe{Topics: []string{"gone/#", "$share/g/gone/+"}}); err != nil {
		t.Fatal(err)
	}
	a.awaitNoSubs(t, "gone/#", "", b)
	a.awaitNoSubs(t, "gone/+", "g", b)
	before := b.routeInMsgs(t)
	p.publish(t, &paho.Publish{Topic: "gone/x", QoS: 1, Payload: []byte("2")})
	p.publish(t, &paho.Publish{Topic: "fence2", QoS: 1, Retain: true, Payload: []byte("f")})
	eventually(t, "the fence on B", func() bool { return b.b.Stats().Retained == 1 })
	if got := b.routeInMsgs(t) - before; got != 1 {
		t.Fatalf("B received %d messages after its last subscriber left, want 1 (the fence)", got)
	}
}
