package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// QoS 2 crosses nodes exactly once: every message a QoS 2 publisher on n1
// completes reaches the QoS 2 subscribers on n2 (5.0) and n3 (3.1.1) once,
// at QoS 2 with DUP 0 [MQTT-4.3.3-2], in the publisher's order [MQTT-4.6.0-5].
func TestQoS2CrossesNodesExactlyOnce(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	subs := []*rawClient{rawConnect(t, n2, "q2-sub5", 5, nil), rawConnect(t, n3, "q2-sub4", 4, nil)}
	for _, s := range subs {
		s.subscribe("x2/#", 2)
	}
	pub := rawConnect(t, n1, "q2-pub", 5, nil)
	awaitProbe(t, pub, "x2/probe", subs...)

	const n = 100
	for i := range n {
		pub.publish("x2/data", 2, fmt.Sprintf("m%03d", i))
	}
	pub.publish("x2/data", 2, "end")
	for _, s := range subs {
		var got []string
		for {
			p := s.next(waitFor)
			if p == nil {
				t.Fatalf("%s on %s: nothing for %s after %d messages", s.name, s.node, waitFor, len(got))
			}
			if p.Topic == "x2/probe" {
				continue
			}
			if p.QoS != 2 || p.Dup {
				t.Errorf("%s: %v, want QoS 2 without DUP", s.name, p)
			}
			got = append(got, string(p.Payload))
			if string(p.Payload) == "end" {
				break
			}
		}
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("m%03d", i))
		}
		want = append(want, "end")
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s on %s received %d messages:\n%v\nwant each of the %d once, in order", s.name, s.node, len(got), got, len(want))
		}
	}
}

// Wills cross nodes: a 5.0 client on n1 and a 3.1.1 client on n1 whose
// connections die get their wills to a subscriber on n2; a 5.0 client on
// n3 with a Will Delay Interval of 2 s (Session Expiry longer) gets its
// will there no sooner than 2 s after its connection died [MQTT-3.1.2-8].
func TestWillsReachSubscribersOnOtherNodes(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	sub := rawConnect(t, n2, "will-sub", 5, nil)
	sub.subscribe("will/#", 1)
	// The subscription known on n1 and n3 before any will is published.
	awaitProbe(t, rawConnect(t, n1, "will-probe1", 5, nil), "will/probe", sub)
	awaitProbe(t, rawConnect(t, n3, "will-probe3", 5, nil), "will/probe", sub)

	const delay = 2
	now := rawConnect(t, n1, "will-now", 5, &wire.Will{Topic: "will/now", Payload: []byte("now"), QoS: 1})
	old := rawConnect(t, n1, "will-311", 4, &wire.Will{Topic: "will/311", Payload: []byte("311"), QoS: 1})
	later := rawConnect(t, n3, "will-later", 5, &wire.Will{Topic: "will/later", Payload: []byte("later"), QoS: 1,
		Props: wire.Properties{wire.Int(wire.PropWillDelay, delay)}},
		wire.Int(wire.PropSessionExpiry, 60))
	for _, cl := range []*rawClient{now, old, later} {
		if err := cl.conn.Abort(); err != nil { // no DISCONNECT: the will is owed
			t.Fatal(err)
		}
	}
	died := time.Now()
	want := map[string]bool{"will/now": true, "will/311": true, "will/later": true}
	for len(want) > 0 {
		p := sub.next(waitFor)
		if p == nil {
			t.Fatalf("the subscriber on n2 never got the wills on %v", want)
		}
		if p.Topic == "will/probe" {
			continue
		}
		if !want[p.Topic] {
			t.Fatalf("the subscriber on n2 got %v: not a will owed (or a second copy)", p)
		}
		delete(want, p.Topic)
		if p.Topic == "will/later" {
			if early := time.Since(died); early < delay*time.Second {
				t.Errorf("the will with Will Delay %d s arrived %v after its connection died [MQTT-3.1.2-8]", delay, early)
			}
		}
	}
}

// A shared subscription spans the processes: members of $share/g/sh/# on
// each node; of the QoS 1 messages published on n1, each reaches exactly
// one member cluster-wide, and members on every node get some.
func TestSharedSubscriptionAcrossProcesses(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	var members []*rawClient
	for i, nd := range c.nodes {
		m := rawConnect(t, nd, fmt.Sprintf("member%d", i+1), 5, nil)
		m.subscribe("$share/g/sh/#", 1)
		members = append(members, m)
	}
	pub := rawConnect(t, c.nodes[0], "sh-pub", 5, nil)
	// Until each member got a probe: every node's queue subscription has
	// reached n1. Probes are not counted below.
	deadline := time.Now().Add(waitFor)
	for _, m := range members {
		for !m.sawPayload("probe", 100*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no probe published on n1 reached %s on %s within %s", m.name, m.node, waitFor)
			}
			pub.publish("sh/probe", 1, "probe")
		}
	}
	const n = 300
	for i := range n {
		pub.publish("sh/data", 1, fmt.Sprintf("m%03d", i))
	}
	seen := map[string][]string{}
	counts := map[string]int{}
	deadline = time.Now().Add(waitFor)
	for len(seen) < n && time.Now().Before(deadline) {
		for _, m := range members {
			for p := m.next(50 * time.Millisecond); p != nil; p = m.next(50 * time.Millisecond) {
				if p.Topic == "sh/data" {
					seen[string(p.Payload)] = append(seen[string(p.Payload)], m.node)
					counts[m.node]++
				}
			}
		}
	}
	t.Logf("of %d messages published on n1, members on n1, n2, n3 got %d, %d, %d", n, counts["n1"], counts["n2"], counts["n3"])
	for i := range n {
		if got := seen[fmt.Sprintf("m%03d", i)]; len(got) != 1 {
			t.Errorf("m%03d reached the group %d times (members on %v), want once", i, len(got), got)
		}
	}
	for _, nd := range c.nodes {
		if counts[nd.name] == 0 {
			t.Errorf("the member on %s got none of %d: the group is not spread over the nodes", nd.name, n)
		}
	}
}

// rawClient is one connection speaking the conformance suite's raw codec,
// which shows DUP flags, QoS and packet ids as sent.
type rawClient struct {
	t       *testing.T
	name    string
	node    string
	version byte
	conn    *wire.Conn
	nextID  uint16
}

// rawConnect connects a client to nd with Clean Start and the will and
// CONNECT properties (5.0) given, and expects CONNACK 0.
func rawConnect(t *testing.T, nd *node, id string, version byte, will *wire.Will, props ...wire.Property) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, err := wire.Dial(ctx, nd.mqtt, version)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", id, nd.name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cp := wire.Connect{Version: version, ClientID: id, CleanStart: true, KeepAlive: 60, Will: will}
	if version == 5 {
		cp.Props = props
	}
	if err := conn.Write(cp.Encode(), waitFor); err != nil {
		t.Fatalf("%s: CONNECT: %v", id, err)
	}
	ack, err := conn.Read(waitFor)
	if err != nil || ack.Type != wire.CONNACK || ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK from %s: %v %v", id, nd.name, ack, err)
	}
	return &rawClient{t: t, name: id, node: nd.name, version: version, conn: conn, nextID: 1}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if err := c.conn.Write(b, waitFor); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func (c *rawClient) subscribe(filter string, qos byte) {
	c.t.Helper()
	c.write(wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: filter, Options: qos}}}.Encode(c.version))
	ack, err := c.conn.Read(waitFor)
	if err != nil || ack.Type != wire.SUBACK || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != qos {
		c.t.Fatalf("%s: SUBACK for %s: %v %v, want QoS %d granted", c.name, filter, ack, err, qos)
	}
}

// publish sends one message and completes its flow (the client subscribes
// to nothing, so only the flow's answers come).
func (c *rawClient) publish(topic string, qos byte, payload string) {
	c.t.Helper()
	id := c.nextID
	c.nextID = c.nextID%65535 + 1
	c.write(wire.Publish{Topic: topic, QoS: qos, PacketID: id, Payload: []byte(payload)}.Encode(c.version))
	if qos == 0 {
		return
	}
	want := map[byte]byte{1: wire.PUBACK, 2: wire.PUBREC}[qos]
	for {
		p, err := c.conn.Read(waitFor)
		if err != nil || p.Type != want || p.PacketID != id || p.ReasonCode >= 0x80 {
			c.t.Fatalf("%s on %s: publishing %s at QoS %d: got %v %v, want %s", c.name, c.node, payload, qos, p, err, wire.TypeName(want))
		}
		if want != wire.PUBREC {
			return // PUBACK, or PUBCOMP after PUBREL
		}
		c.write(wire.Ack(c.version, wire.PUBREL, id, 0, nil))
		want = wire.PUBCOMP
	}
}

// next returns the next PUBLISH (every copy), answering it and any PUBREL
// on the way; nil when none arrives within d.
func (c *rawClient) next(d time.Duration) *wire.Packet {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p, err := c.conn.Read(max(time.Until(deadline), time.Millisecond))
		if err != nil {
			return nil
		}
		switch p.Type {
		case wire.PUBLISH:
			switch p.QoS {
			case 1:
				c.write(wire.Ack(c.version, wire.PUBACK, p.PacketID, 0, nil))
			case 2:
				c.write(wire.Ack(c.version, wire.PUBREC, p.PacketID, 0, nil))
			}
			return p
		case wire.PUBREL:
			c.write(wire.Ack(c.version, wire.PUBCOMP, p.PacketID, 0, nil))
		default:
			c.t.Fatalf("%s on %s: unexpected %v", c.name, c.node, p)
		}
	}
}

// sawPayload reports whether a PUBLISH with payload arrives within d.
func (c *rawClient) sawPayload(payload string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p := c.next(time.Until(deadline))
		if p == nil {
			return false
		}
		if string(p.Payload) == payload {
			return true
		}
	}
	return false
}

// awaitProbe publishes probes to topic from pub until every subscriber got
// one: its subscription has reached pub's node (decision 0052: a moment
// after its SUBACK).
func awaitProbe(t *testing.T, pub *rawClient, topic string, subs ...*rawClient) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for _, s := range subs {
		for !s.sawPayload("probe", 100*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no probe published on %s reached %s on %s within %s", pub.node, s.name, s.node, waitFor)
			}
			pub.publish(topic, 1, "probe")
		}
	}
}
