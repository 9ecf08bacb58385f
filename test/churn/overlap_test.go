package churn

import (
	"fmt"
	"slices"
	"testing"

	"github.com/plumemq/plume/conformance/wire"
)

// overlapSub is one of an overlapping subscriber's filters: its QoS and, in
// 5.0, its Subscription Identifier (0: none).
type overlapSub struct {
	filter string
	qos    byte
	id     uint32
}

// overlapper checks the copies of each message a client with overlapping
// subscriptions receives.
type overlapper struct {
	*subscriber
	granted byte     // the highest QoS of its matching subscriptions
	ids     []uint32 // the identifiers of its matching subscriptions, sorted

	fresh   map[msg]int             // copies with DUP 0: the first sending of a copy
	highest map[msg]byte            // the highest QoS a copy came at
	seenIDs map[msg]map[uint32]bool // identifiers over all copies
	firstID map[msg][]uint32        // identifiers of the first copy
}

func newOverlapper(tg *target, name string, version byte, subs []overlapSub) *overlapper {
	o := &overlapper{fresh: map[msg]int{}, highest: map[msg]byte{}, seenIDs: map[msg]map[uint32]bool{}, firstID: map[msg][]uint32{}}
	for _, s := range subs {
		o.granted = max(o.granted, s.qos)
		if s.id != 0 {
			o.ids = append(o.ids, s.id)
		}
	}
	slices.Sort(o.ids)
	o.subscriber = newSubscriber(tg, name, version, 300, o.granted)
	o.wantQoS = nil // several copies may come at different QoS; publish checks each
	o.orderProp = propCopyOrder
	o.publish = o.copy
	return o
}

// copy checks one PUBLISH as it arrives (never above the QoS a matching
// subscription granted [MQTT-3.8.4-8], identifiers only of matching
// subscriptions) and counts its first sendings: a resend carries DUP
// [MQTT-3.3.1-1].
func (o *overlapper) copy(p *wire.Packet, m msg) {
	pq := payloadQoS(p)
	if p.QoS > min(pq, o.granted) {
		o.tg.violation(propQoS, "%s got %v at QoS %d, above min(published %d, granted %d)", o.id, m, p.QoS, pq, o.granted)
	}
	o.highest[m] = max(o.highest[m], p.QoS)
	var ids []uint32
	for _, pr := range p.Props.All(wire.PropSubscriptionID) {
		ids = append(ids, pr.Int)
	}
	slices.Sort(ids)
	if o.seenIDs[m] == nil {
		o.seenIDs[m] = map[uint32]bool{}
		o.firstID[m] = ids
	}
	for _, id := range ids {
		o.seenIDs[m][id] = true
		if !slices.Contains(o.ids, id) {
			o.tg.violation(propSubIDs, "%s got %v with Subscription Identifier %d, which no matching subscription has", o.id, m, id)
		}
	}
	if !p.Dup {
		o.fresh[m]++
	}
}

func payloadQoS(p *wire.Packet) byte {
	_, q, _ := parsePayload(p.Payload)
	return q
}

// check runs when the scenario is over: each acknowledged message came
// once per publication (not once per matching subscription), at least once at the highest QoS of the subscriptions it matched
// [MQTT-3.3.4-2] [MQTT-3.3.5-1], and (5.0) with every matching
// subscription's identifier: all on a single copy [MQTT-3.3.4-3]
// [MQTT-3.3.4-4], or spread over several [MQTT-3.3.4-5].
func (o *overlapper) check(pubs []*publisher) {
	for _, pb := range pubs {
		for _, seq := range pb.acked {
			m := msg{pb.name, seq}
			if _, ok := o.highest[m]; !ok {
				continue // never arrived: checkLoss reports it
			}
			if copies := 1 + b2i(pb.twice[seq]); o.fresh[m] > copies {
				o.tg.violation(propOneCopy, "%s got %v %d times without DUP; it was published %d times", o.id, m, o.fresh[m], copies)
			}
			if want := min(pb.qos, o.granted); o.highest[m] != want {
				o.tg.violation(propOverlap, "%s got %v at most at QoS %d, want %d", o.id, m, o.highest[m], want)
			}
			if o.version != 5 {
				continue
			}
			var all []uint32
			for id := range o.seenIDs[m] {
				all = append(all, id)
			}
			slices.Sort(all)
			// A broker that sends a copy per subscription [MQTT-3.3.4-5] may
			// lose a QoS 0 copy, identifier and all, to a reset; one that
			// sends one copy [MQTT-3.3.4-4] puts every identifier on it.
			if !slices.Equal(all, o.ids) || !slices.Equal(o.firstID[m], o.ids) {
				o.tg.violation(propAllSubIDs, "%s got %v with Subscription Identifiers %v (the first copy %v), want %v",
					o.id, m, all, o.firstID[m], o.ids)
			}
		}
	}
}

// A client of each version subscribes with several filters that match the
// same topics, at different QoS and (5.0) with Subscription Identifiers, one
// without; the clients reset through the QoS flows as in
// TestSubscribersResetThroughQoSFlows while publishers send QoS 1 and 2.
// Each acknowledged message arrives once per client, at the highest QoS of
// the overlapping subscriptions, with every identifier, in order.
func TestOverlappingSubscriptionsDeliverOneCopyAtTheHighestQoS(t *testing.T) {
	tg := newTarget(t)
	base := tg.tag + "/ov"
	pubs := newPublishers(tg, 0.02, func(name string) string { return base + "/" + name + "/x" },
		pubSpec{"op1", 5, 1}, pubSpec{"op2", 4, 2}, pubSpec{"op3", 5, 2})
	// Every filter matches every publisher's topic. Only one filter per
	// client grants QoS 2, so a second copy is never a QoS 2 duplicate.
	high := []overlapSub{{base + "/#", 0, 1}, {base + "/+/x", 2, 2}, {base + "/+/+", 1, 0}}
	low := []overlapSub{{base + "/#", 1, 5}, {base + "/+/x", 0, 7}}
	var ovs []*overlapper
	var subs []*subscriber
	for _, c := range []struct {
		name    string
		version byte
		subs    []overlapSub
	}{{"hi", 5, high}, {"lo", 5, low}, {"hi", 4, high}, {"lo", 4, low}} {
		o := newOverlapper(tg, fmt.Sprintf("ov-%s-v%d", c.name, c.version), c.version, c.subs)
		o.resetP = 0.05
		if _, err := o.connect(true); err != nil {
			t.Fatal(err)
		}
		for i, s := range c.subs {
			sp := wire.Subscribe{PacketID: uint16(i + 1), Subs: []wire.Subscription{{Filter: s.filter, Options: s.qos}}}
			if s.id != 0 && c.version == 5 {
				sp.Props = wire.Properties{wire.Int(wire.PropSubscriptionID, s.id)}
			}
			if err := o.subscribePacket(sp); err != nil {
				t.Fatal(err)
			}
		}
		ovs, subs = append(ovs, o), append(subs, o.subscriber)
	}
	n := churn(tg, pubs, subscribers(subs, func(s *subscriber) bool { return s.hasAll(pubs) }))
	for _, o := range ovs {
		checkLoss(tg, propLost, pubs, o.subscriber)
		o.check(pubs)
	}
	checkResent(tg, subs...)
	t.Logf("%d acknowledged messages, %d clients", n, len(ovs))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
