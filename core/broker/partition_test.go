package broker_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// A node without a JetStream quorum (Options.Quorum false) refuses what it
// could not replicate — a 5.0 QoS 1 PUBLISH gets PUBACK 0x83, a QoS 2 one
// PUBREC 0x83, both with the reason string, and neither reaches a
// subscriber — while QoS 0 still flows on the same connection. When the
// quorum is back, the same connection's QoS 1 and 2 are accepted again.
func TestNoQuorumRefusesQoS1And2PublishesButNotQoS0(t *testing.T) {
	var quorum atomic.Bool
	tb := startBroker(t, broker.Options{Quorum: &quorum, AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, v5Connect("sub"))
	s.subscribe(1, sub("part/#", 2))
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))

	pub.publish(&packets.Publish{Topic: "part/q1", QoS: 1, PacketID: 1, Payload: []byte("refused 1")})
	if a := pub.expectAck(packets.TypePuback, 1); a.Reason != packets.ImplementationSpecificError ||
		!strings.Contains(a.Properties.ReasonString, "quorum") {
		t.Fatalf("QoS 1 without a quorum: PUBACK %v %q, want 0x83 naming the quorum", a.Reason, a.Properties.ReasonString)
	}
	pub.publish(&packets.Publish{Topic: "part/q2", QoS: 2, PacketID: 2, Payload: []byte("refused 2")})
	if a := pub.expectAck(packets.TypePubrec, 2); a.Reason != packets.ImplementationSpecificError {
		t.Fatalf("QoS 2 without a quorum: PUBREC %v, want 0x83", a.Reason)
	}
	pub.publish(&packets.Publish{Topic: "part/q0", Payload: []byte("local")})
	if m := s.nextPublish(); m.Topic != "part/q0" {
		t.Fatalf("the subscriber got %q first, want the QoS 0 message (the refused ones never routed)", m.Topic)
	}
	if p, c := tb.QuorumRefusals(); p != 2 || c != 0 {
		t.Errorf("QuorumRefusals = %d publishes, %d connects; want 2, 0", p, c)
	}

	quorum.Store(true)
	pub.publish(&packets.Publish{Topic: "part/q1", QoS: 1, PacketID: 3, Payload: []byte("accepted")})
	if a := pub.expectAck(packets.TypePuback, 3); a.Reason.IsError() {
		t.Fatalf("QoS 1 with the quorum back: PUBACK %v", a.Reason)
	}
	if m := s.nextPublish(); string(m.Payload) != "accepted" {
		t.Fatalf("the subscriber got %q, want the message accepted once the quorum was back", m.Payload)
	}
	// The refused QoS 2 id was released: the client may use it again.
	pub.publish(&packets.Publish{Topic: "part/q2", QoS: 2, PacketID: 2, Payload: []byte("again")})
	if a := pub.expectAck(packets.TypePubrec, 2); a.Reason.IsError() {
		t.Fatalf("QoS 2 with the quorum back, id 2 reused: PUBREC %v", a.Reason)
	}
}

// A 3.1.1 client has no negative PUBACK: its QoS 1 PUBLISH without a
// quorum closes the connection unacknowledged, so that it sends the
// message again rather than count it delivered.
func TestNoQuorumClosesA311QoS1Publisher(t *testing.T) {
	var quorum atomic.Bool
	tb := startBroker(t, broker.Options{Quorum: &quorum, AllowAnonymous: true})
	c := dialRaw(t, tb.addr)
	if ack := c.connect(&packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "old"}); ack.Reason != packets.Success {
		t.Fatalf("clean 3.1.1 CONNECT without a quorum: %v, want accepted", ack.Reason)
	}
	c.publish(&packets.Publish{Topic: "part/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	c.expectClosed()
}

// Without a quorum a CONNECT that asks for a kept session is refused —
// 5.0 clean start 0, or clean start 1 with a session expiry, get CONNACK
// 0x88 Server unavailable; 3.1.1 clean session 0 gets return code 3 —
// while clean sessions connect. With the quorum back, persistent sessions
// connect again.
func TestNoQuorumRefusesPersistentSessions(t *testing.T) {
	var quorum atomic.Bool
	tb := startBroker(t, broker.Options{Quorum: &quorum, AllowAnonymous: true})
	expiring := v5Connect("expiring")
	expiring.Properties.SessionExpiry = 300
	expiring.Properties.Set(packets.PropSessionExpiry)
	resumed := v5Connect("resumed")
	resumed.CleanStart = false
	old := &packets.Connect{ProtocolVersion: packets.V311, ClientID: "old311"}
	for _, cp := range []*packets.Connect{resumed, expiring, old} {
		c := dialRaw(t, tb.addr)
		ack := c.connect(cp)
		if ack.Reason != packets.ServerUnavailable {
			t.Errorf("%s (v%d) without a quorum: CONNACK %v, want server unavailable", cp.ClientID, cp.ProtocolVersion, ack.Reason)
		}
		if cp.ProtocolVersion == packets.V5 && !strings.Contains(ack.Properties.ReasonString, "quorum") {
			t.Errorf("%s: reason string %q, want one naming the quorum", cp.ClientID, ack.Properties.ReasonString)
		}
		c.expectClosed()
	}
	if _, n := tb.QuorumRefusals(); n != 3 {
		t.Errorf("QuorumRefusals counts %d connects, want 3", n)
	}
	connectRaw(t, tb.addr, v5Connect("clean"))
	connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "clean311"})

	quorum.Store(true)
	for _, cp := range []*packets.Connect{
		{ProtocolVersion: packets.V5, ClientID: "resumed"},
		{ProtocolVersion: packets.V311, ClientID: "old311"},
	} {
		connectRaw(t, tb.addr, cp)
	}
}

// A draining cluster node with a Server Reference sends its 5.0 clients
// DISCONNECT 0x9C Use another server carrying the reference, so that they
// go there at once; a client whose Maximum Packet Size cannot take the
// reference gets 0x8B; 3.1.1 clients are closed.
func TestShutdownSendsUseAnotherServerWithTheReference(t *testing.T) {
	const ref = "10.0.0.2:1883 10.0.0.3:1883"
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, ServerReference: ref})
	v5, _ := connectRaw(t, tb.addr, v5Connect("moved"))
	small := v5Connect("small")
	small.Properties.MaximumPacketSize = 10
	small.Properties.Set(packets.PropMaximumPacketSize)
	tiny, _ := connectRaw(t, tb.addr, small)
	v311, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "moved311"})
	tb.shutdown(t)
	if d := v5.expectDisconnect(packets.UseAnotherServer); d.Properties.ServerReference != ref ||
		!d.Properties.Has(packets.PropServerReference) {
		t.Errorf("DISCONNECT 0x9C carries Server Reference %q, want %q", d.Properties.ServerReference, ref)
	}
	tiny.expectDisconnect(packets.ServerShuttingDown)
	v311.expectClosed()
}

// A cluster node publishes its membership and health under
// $SYS/broker/cluster/ (Options.Cluster), with the broker's own counts of
// refusals for want of a quorum; Broker.Cluster answers the same for the
// admin API and /metrics. A broker without a cluster publishes none.
func TestClusterStatusOnSys(t *testing.T) {
	var quorum atomic.Bool
	status := func() broker.ClusterStatus {
		return broker.ClusterStatus{Node: "n1", Quorum: quorum.Load(), MetaLeader: "",
			Members: []broker.ClusterMember{{Name: "n1", Self: true, Up: true}, {Name: "n2"}, {Name: "n3"}},
			Fabric:  []broker.ClusterCounter{{Name: "published", Value: 7}}}
	}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Quorum: &quorum, Cluster: status, SysInterval: 20 * time.Millisecond})
	c, _ := connectRaw(t, tb.addr, v5Connect("refused-pub"))
	c.publish(&packets.Publish{Topic: "x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	c.expectAck(packets.TypePuback, 1)

	watcher, _ := connectRaw(t, tb.addr, v5Connect("sys-watcher"))
	watcher.subscribe(1, sub("$SYS/broker/cluster/#", 0))
	want := map[string]string{
		"$SYS/broker/cluster/node": "n1", "$SYS/broker/cluster/quorum": "0", "$SYS/broker/cluster/meta_leader": "",
		"$SYS/broker/cluster/members/total": "3", "$SYS/broker/cluster/members/up": "1",
		"$SYS/broker/cluster/refused/publishes": "1", "$SYS/broker/cluster/refused/connects": "0",
		"$SYS/broker/cluster/fabric/published": "7",
	}
	// Retained values first, then each interval's: read until every topic
	// has said what it should (a value from before the refusal may come
	// first), or the read deadline fails the test.
	got := map[string]string{}
	matches := func() bool {
		for topic, v := range want {
			if got[topic] != v {
				return false
			}
		}
		return got["$SYS/broker/cluster/members"] != ""
	}
	for !matches() {
		m := watcher.nextPublish()
		got[m.Topic] = string(m.Payload)
	}
	if !strings.Contains(got["$SYS/broker/cluster/members"], `"name":"n2","up":false`) {
		t.Errorf("$SYS/broker/cluster/members = %s, want n2 down in it", got["$SYS/broker/cluster/members"])
	}
	if s, ok := tb.Cluster(); !ok || s.RefusedPublishes != 1 || s.Up() != 1 {
		t.Errorf("Cluster() = %+v, %v", s, ok)
	}

	plain := startBroker(t, broker.Options{AllowAnonymous: true})
	if _, ok := plain.Cluster(); ok {
		t.Error("a broker without a cluster reports a cluster status")
	}
}
