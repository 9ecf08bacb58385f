package churn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/plumemq/plume/conformance/wire"
)

// Members of a QoS 1 shared subscription (5.0 and 3.1.1) reset at every point
// of the flow, rejoin their sessions, and now and then start a new session,
// which ends the old one with whatever it held unacknowledged or queued.
// Every acknowledged message reaches at least one member [MQTT-4.8.2]
// (issue 16, failure 3).
func TestSharedGroupMembersLeaveRejoinAndEndSessions(t *testing.T) {
	tg := newTarget(t)
	filter := "$share/g/" + tg.tag + "/shared/#"
	pubs := []*publisher{{peer: newPeer(tg, "sp", 5, 300), name: "sp", topic: tg.tag + "/shared/x", qos: 1, resetP: 0.02}}
	var members []*subscriber
	for i, v := range []byte{5, 4, 5} {
		m := newSubscriber(tg, fmt.Sprintf("m%d", i), v, 300, 1)
		m.resetP, m.orderProp = 0.05, "" // a group has no order across members
		m.early = func(p *wire.Packet) error { return m.handle(p, nil) }
		m.rejoin = func(rng *rand.Rand) error {
			if rng.Float64() >= 0.3 {
				return m.resume()
			}
			// A new session: the old one ends; its messages are the group's
			// again, and this member owes no resend or PUBREL any more.
			clear(m.recheck)
			clear(m.inbound)
			if _, err := m.connect(true); err != nil {
				return err
			}
			return m.subscribe(1, filter)
		}
		if _, err := m.connect(true); err != nil {
			t.Fatal(err)
		}
		if err := m.subscribe(1, filter); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	// A member is done when it got again what it left unacknowledged, and
	// what is missing is no more than the broker counted as
	// dropped: a message whose every member had gone is dropped by design
	// (docs/decisions/0012-delivery-under-churn.md), and checkLoss checks
	// the count.
	n := churn(tg, pubs, subscribers(members, func(s *subscriber) bool {
		return len(s.recheck) == 0 && int64(len(missing(pubs, members...))) <= max(tg.dropped(), 0)
	}))
	checkLoss(tg, propSharedLost, pubs, members...)
	checkResent(tg, members...)
	if tg.plume != nil {
		s := tg.plume.Stats()
		t.Logf("%d acknowledged messages (%d more with no member subscribed); %d handed over between members, %d dropped",
			n, pubs[0].unmatched, s.SharedHandedOver, s.SharedDropped)
	}
}

// Two publishers write retained QoS 1 messages to one topic back to back,
// round after round; after each round the retained value is the message the
// live subscriber received last (issue 16, failure 2).
func TestConcurrentRetainedWritesKeepTheLastRouted(t *testing.T) {
	tg := newTarget(t)
	topic := tg.tag + "/retained"
	var pubs []*peer
	for i := 0; i < 2; i++ {
		p := newPeer(tg, fmt.Sprintf("rp%d", i), 5, 0)
		if _, err := p.connect(true); err != nil {
			t.Fatal(err)
		}
		defer p.reset()
		pubs = append(pubs, p)
	}
	live := newPeer(tg, "live", 5, 0)
	probe := newPeer(tg, "probe", 5, 0)
	for _, p := range []*peer{live, probe} {
		if _, err := p.connect(true); err != nil {
			t.Fatal(err)
		}
		defer p.reset()
	}
	if err := live.subscribe(1, topic); err != nil {
		t.Fatal(err)
	}
	read := func(p *peer, typ byte) *wire.Packet {
		t.Helper()
		pk, err := p.conn.Read(ioWait)
		if err != nil || pk.Type != typ {
			t.Fatalf("%s: got %v %v, want %s", p.id, pk, err, wire.TypeName(typ))
		}
		return pk
	}
	rounds := 0
	for start := tgNow(); tgSince(start) < *duration; rounds++ {
		id := uint16(rounds%65535 + 1)
		for i, p := range pubs {
			pk := wire.Publish{Topic: topic, QoS: 1, Retain: true, PacketID: id, Payload: payload(msg{p.id, rounds}, byte(i))}
			if err := p.send(pk.Encode(5)); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range pubs {
			read(p, wire.PUBACK)
		}
		var last string
		for i := 0; i < 2; i++ {
			pk := read(live, wire.PUBLISH)
			last = string(pk.Payload)
			if err := live.send(live.ack(wire.PUBACK, pk.PacketID)); err != nil {
				t.Fatal(err)
			}
		}
		if err := probe.send(wire.Subscribe{PacketID: id, Subs: []wire.Subscription{{Filter: topic}}}.Encode(5)); err != nil {
			t.Fatal(err)
		}
		read(probe, wire.SUBACK)
		if got := read(probe, wire.PUBLISH); string(got.Payload) != last {
			tg.violation(propRetained, "round %d: retained %q, the live subscriber received %q last", rounds, got.Payload, last)
		}
		if err := probe.send(wire.Unsubscribe{PacketID: id, Filters: []string{topic}}.Encode(5)); err != nil {
			t.Fatal(err)
		}
		read(probe, wire.UNSUBACK)
	}
	t.Logf("%d rounds", rounds)
}
