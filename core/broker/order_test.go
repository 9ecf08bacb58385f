package broker_test

import (
	"fmt"
	"time"

	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// Issue 16, failure 2: two retained publishes to one topic. The first is held
// between storing its retained value and routing it, until the second has
// either been acknowledged (the window is open: it was stored and routed past
// the first) or is seen waiting for the topic's order. Afterwards the retained
// value must be the message the live subscriber received last.
func TestRetainedValueIsTheMessageRoutedLast(t *testing.T) {
	// Without a store: with one, the second publish may also wait behind the
	// held first one for the journal's batch (journal.Begin), which this
	// test cannot tell from a lost order.
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore})
	firstStored, releaseFirst, secondWaits := make(chan struct{}), make(chan struct{}), make(chan struct{})
	broker.SetRetainSeams(tb.Broker,
		func(m *session.Message) {
			if string(m.Payload) == "first" {
				close(firstStored)
				<-releaseFirst
			}
		},
		func(m *session.Message) {
			if string(m.Payload) == "second" {
				close(secondWaits)
			}
		})

	live, _ := connectRaw(t, tb.addr, v5Connect("ro-live"))
	live.subscribe(1, sub("ro/t", 1))
	p1, _ := connectRaw(t, tb.addr, v5Connect("ro-p1"))
	p2, _ := connectRaw(t, tb.addr, v5Connect("ro-p2"))

	p1.publish(&packets.Publish{Topic: "ro/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("first")})
	select {
	case <-firstStored:
	case <-time.After(wait):
		t.Fatal("first publish never stored its retained value")
	}
	p2.publish(&packets.Publish{Topic: "ro/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("second")})
	secondAcked := make(chan error, 1)
	go func() {
		p, err := p2.read(wait)
		if err == nil {
			if a, ok := p.(*packets.Ack); !ok || a.Kind != packets.TypePuback {
				err = errUnexpected
			}
		}
		secondAcked <- err
	}()
	var acked error = errUnexpected
	select {
	case <-secondWaits: // ordered behind the first: its PUBACK comes after
	case acked = <-secondAcked:
		if acked != nil {
			close(releaseFirst)
			t.Fatalf("second publish: %v", acked)
		}
	case <-time.After(wait):
		close(releaseFirst)
		t.Fatal("second publish neither acknowledged nor waiting for the first")
	}
	close(releaseFirst)
	p1.expectAck(packets.TypePuback, 1)
	if acked != nil {
		if err := <-secondAcked; err != nil {
			t.Fatalf("second publish: %v", err)
		}
	}

	var last string
	for i := 0; i < 2; i++ {
		m := live.nextPublish()
		live.ack(packets.TypePuback, m.PacketID)
		last = string(m.Payload)
	}
	late, _ := connectRaw(t, tb.addr, v5Connect("ro-late"))
	late.subscribe(1, sub("ro/t", 1))
	if got := late.nextPublish(); string(got.Payload) != last {
		t.Fatalf("retained value %q, but the live subscriber received %q last", got.Payload, last)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errUnexpected = testError("unexpected packet")

// The stress form of failure 2, with real clients and no seam: two
// publishers each publish a retained QoS 1 message to one topic back to back,
// round after round; after each round the retained value must be the message
// the live subscriber received last.
func TestRetainedValueMatchesLiveOrderUnderConcurrentPublishers(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	live, _ := connectRaw(t, tb.addr, v5Connect("rs-live"))
	live.subscribe(1, sub("rs/t", 1))
	probe, _ := connectRaw(t, tb.addr, v5Connect("rs-probe"))
	pubs := []*rawClient{}
	for _, id := range []string{"rs-p1", "rs-p2"} {
		p, _ := connectRaw(t, tb.addr, v5Connect(id))
		pubs = append(pubs, p)
	}
	rounds := 10000
	if testing.Short() {
		rounds = 1000
	}
	mismatches := 0
	for r := 1; r <= rounds; r++ {
		id := uint16(r)
		for i, p := range pubs {
			p.publish(&packets.Publish{Topic: "rs/t", QoS: 1, PacketID: id, Retain: true, Payload: fmt.Appendf(nil, "%d/%d", r, i)})
		}
		for _, p := range pubs {
			p.expectAck(packets.TypePuback, id)
		}
		var last string
		for i := 0; i < 2; i++ {
			m := live.nextPublish()
			live.ack(packets.TypePuback, m.PacketID)
			last = string(m.Payload)
		}
		probe.subscribe(id, sub("rs/t", 0))
		if got := probe.nextPublish(); string(got.Payload) != last {
			mismatches++
			t.Errorf("round %d: retained %q, live subscriber received %q last", r, got.Payload, last)
		}
		probe.send(&packets.Unsubscribe{PacketID: id, Filters: []string{"rs/t"}})
		if p := probe.next(); p.Type() != packets.TypeUnsuback {
			t.Fatalf("got %T, want UNSUBACK", p)
		}
		if mismatches >= 3 {
			t.Fatalf("stopping after %d mismatches in %d rounds", mismatches, r)
		}
	}
}
