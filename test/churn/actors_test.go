package churn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// publisher publishes numbered messages one at a time and records which the
// broker acknowledged (PUBACK, or PUBREC for QoS 2: accepted from then on).
// With resetP > 0 it resets its connection mid-flow and resumes its session:
// after the PUBLISH (then resends it with DUP and the same id), after PUBREC
// (then sends PUBREL), or halfway through its PUBREL.
type publisher struct {
	*peer
	name   string
	topic  string
	qos    byte
	retain bool
	resetP float64
	acked  []int // read after run returned
	// unmatched counts messages acknowledged with 0x10 No matching
	// subscribers, which are not in acked.
	unmatched int
	// twice holds the QoS 1 messages sent again after a reset: the broker
	// may have taken both sendings, each a new publication [MQTT-4.3.2-5],
	// so a subscriber may get them twice, without DUP.
	twice map[int]bool
}

// pubSpec is one publisher of a scenario: its name, protocol version and QoS.
type pubSpec struct {
	name    string
	version byte
	qos     byte
}

// newPublishers makes a scenario's publishers, each with a persistent
// session, publishing to topic(name) and resetting with probability resetP.
func newPublishers(tg *target, resetP float64, topic func(name string) string, specs ...pubSpec) []*publisher {
	pubs := make([]*publisher, 0, len(specs))
	for _, c := range specs {
		pubs = append(pubs, &publisher{peer: newPeer(tg, c.name, c.version, 300), name: c.name,
			topic: topic(c.name), qos: c.qos, resetP: resetP})
	}
	return pubs
}

func (pb *publisher) run(stop <-chan struct{}, rng *rand.Rand) error {
	if _, err := pb.connect(true); err != nil {
		return err
	}
	defer pb.reset()
	var id uint16
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return nil
		default:
		}
		id = id%65535 + 1
		p := wire.Publish{Topic: pb.topic, QoS: pb.qos, Retain: pb.retain, PacketID: id, Payload: payload(msg{pb.name, seq}, pb.qos)}
		if err := pb.send(p.Encode(pb.version)); err != nil {
			return err
		}
		if pb.qos == 0 {
			pb.acked = append(pb.acked, seq)
			continue
		}
		if rng.Float64() < pb.resetP {
			pb.reset() // after PUBLISH, before its acknowledgement
			if err := pb.resume(); err != nil {
				return err
			}
			p.Dup = true // [MQTT-4.4.0-1] the same packet id, DUP set
			if pb.qos == 1 {
				if pb.twice == nil {
					pb.twice = map[int]bool{}
				}
				pb.twice[seq] = true
			}
			if err := pb.send(p.Encode(pb.version)); err != nil {
				return err
			}
		}
		want := byte(wire.PUBACK)
		if pb.qos == 2 {
			want = wire.PUBREC
		}
		reason, err := pb.expect(want, id)
		if err != nil {
			return err
		}
		if reason == noMatchingSubscribers {
			// A shared group can be empty for a moment while every member
			// starts a new session; what is published then is nobody's.
			pb.unmatched++
		} else {
			pb.acked = append(pb.acked, seq)
		}
		if pb.qos == 1 {
			continue
		}
		rel := pb.ack(wire.PUBREL, id)
		if rng.Float64() < pb.resetP {
			if rng.IntN(2) == 0 {
				pb.reset() // after PUBREC, before PUBREL
			} else {
				pb.resetMid(rel)
			}
			if err := pb.resume(); err != nil {
				return err
			}
		}
		if err := pb.send(rel); err != nil {
			return err
		}
		if _, err := pb.expect(wire.PUBCOMP, id); err != nil {
			return err
		}
	}
}

// expect reads the acknowledgement typ for id.
func (pb *publisher) expect(typ byte, id uint16) (reason byte, err error) {
	p, err := pb.conn.Read(ioWait)
	if err != nil {
		return 0, fmt.Errorf("%s: waiting for %s %d: %w", pb.id, wire.TypeName(typ), id, err)
	}
	if p.Type != typ || p.PacketID != id || p.ReasonCode >= 0x80 {
		return 0, fmt.Errorf("%s: got %v, want %s %d", pb.id, p, wire.TypeName(typ), id)
	}
	return p.ReasonCode, nil
}

// noMatchingSubscribers is the 5.0 acknowledgement of a message that no
// subscription matched: accepted, and owed to no one.
const noMatchingSubscribers = 0x10

// subscriber receives, acknowledges and checks messages, keeping its side of
// the session (QoS 2 ids awaiting PUBREL) across connections. With resetP > 0
// it resets at every point of the flows: after a PUBLISH before its
// acknowledgement, halfway through the PUBACK or PUBREC, right after PUBREC,
// on PUBREL before PUBCOMP, halfway through PUBCOMP.
type subscriber struct {
	*peer
	resetP  float64
	wantQoS func(published byte) byte // the QoS a message must arrive at; nil: publish checks it
	// orderProp names the property a message out of its publisher's order
	// breaks; "" checks no order (a shared group has none across members).
	orderProp string
	// rejoin replaces resume after a reset when set: a shared member may
	// start a new session instead, ending its old one.
	rejoin func(rng *rand.Rand) error
	// publish, when set, sees every PUBLISH before it is recorded (the
	// overlapping-subscriptions scenario checks copies and identifiers).
	publish func(p *wire.Packet, m msg)
	mu      sync.Mutex // guards got: a group's members are checked together

	got     map[msg]int    // application deliveries
	last    map[string]int // highest sequence number per publisher
	inbound map[uint16]msg // QoS 2 ids received, PUBREL awaited
	recheck map[uint16]msg // left unacknowledged: must come again first, with DUP and this id
	lastMsg msg            // the last message delivered
}

func newSubscriber(tg *target, name string, version byte, expiry uint32, granted byte) *subscriber {
	return &subscriber{
		peer: newPeer(tg, name, version, expiry), orderProp: propOrder,
		wantQoS: func(p byte) byte { return min(p, granted) },
		got:     map[msg]int{}, last: map[string]int{}, inbound: map[uint16]msg{}, recheck: map[uint16]msg{},
	}
}

var errIncomplete = errors.New("did not receive every acknowledged message in time")

// referenceQuiet ends the drain on a reference broker once nothing arrived
// for that long: one that is known to lose messages would otherwise hold
// every run for the whole settle time. Plume gets the whole settle time.
const referenceQuiet = 2 * time.Second

// run reads until stop is closed, resetting at random; then, without resets,
// until done reports that everything owed has arrived, or settle has passed.
func (s *subscriber) run(stop <-chan struct{}, rng *rand.Rand, done func(*subscriber) bool) error {
	defer s.reset()
	var until time.Time
	quiet := time.Now() // when the last packet arrived
	var asked time.Time // when done was last asked
	for {
		if until.IsZero() {
			select {
			case <-stop:
				until = time.Now().Add(settle)
				rng = nil // no more resets
			default:
			}
		}
		// done walks every acknowledged message: asked after each packet,
		// a long run's drain was quadratic (62 s for 24,555 messages).
		if !until.IsZero() && time.Since(asked) > 20*time.Millisecond {
			if done(s) {
				return nil
			}
			asked = time.Now()
		}
		if s.conn == nil {
			reconnect := s.resume
			if s.rejoin != nil && rng != nil {
				reconnect = func() error { return s.rejoin(rng) }
			}
			if err := reconnect(); err != nil {
				return err
			}
		}
		p, err := s.conn.Read(100 * time.Millisecond)
		if errors.Is(err, wire.ErrTimeout) {
			if !until.IsZero() && time.Now().After(until) {
				return fmt.Errorf("%s: %w", s.id, errIncomplete)
			}
			if !until.IsZero() && *reference != "" && time.Since(quiet) > referenceQuiet {
				return nil // what a reference broker lost is reported by the checks
			}
			continue
		}
		quiet = time.Now()
		if err != nil {
			return fmt.Errorf("%s: read: %w", s.id, err)
		}
		if err := s.handle(p, rng); err != nil {
			return err
		}
	}
}

// handle takes one packet and answers it; rng nil means no reset.
func (s *subscriber) handle(p *wire.Packet, rng *rand.Rand) error {
	a, m, err := s.take(p)
	if err != nil || a == nil {
		return err
	}
	if rng == nil || rng.Float64() >= s.resetP {
		return s.send(a)
	}
	if p.Type == wire.PUBREL {
		if rng.IntN(2) == 0 {
			s.reset() // on PUBREL, before PUBCOMP
		} else {
			s.resetMid(a)
		}
		return nil
	}
	switch rng.IntN(3) {
	case 0: // after the PUBLISH, before its acknowledgement
		s.recheck[p.PacketID] = m
		s.reset()
	case 1: // halfway through the acknowledgement
		s.recheck[p.PacketID] = m
		s.resetMid(a)
	case 2: // right after the acknowledgement (PUBREC: before PUBREL)
		err := s.send(a)
		s.reset()
		return err
	}
	return nil
}

// take records one packet on the client side of the session and returns
// its answer (nil: none) and, for a PUBLISH, its message.
func (s *subscriber) take(p *wire.Packet) ([]byte, msg, error) {
	switch p.Type {
	case wire.PUBLISH:
		m, pq, err := parsePayload(p.Payload)
		if err != nil {
			return nil, m, err
		}
		if s.wantQoS != nil {
			if want := s.wantQoS(pq); p.QoS != want {
				s.tg.violation(propQoS, "%s got %v at QoS %d, want %d", s.id, m, p.QoS, want)
			}
		}
		if was, ok := s.recheck[p.PacketID]; ok {
			// [MQTT-4.4.0-1] what was in flight comes again first, with
			// its packet id and DUP set; the id is not reused before.
			delete(s.recheck, p.PacketID)
			if was != m || !p.Dup {
				s.tg.violation(propResend, "%s: %v left unacknowledged with id %d; that id came again with %v, DUP %v",
					s.id, was, p.PacketID, m, p.Dup)
			}
		}
		if s.publish != nil {
			s.publish(p, m)
		}
		if _, resent := s.inbound[p.PacketID]; !(p.QoS == 2 && resent) {
			s.deliver(m, p.QoS)
		}
		switch p.QoS {
		case 0:
			return nil, m, nil
		case 1:
			return s.ack(wire.PUBACK, p.PacketID), m, nil
		}
		s.inbound[p.PacketID] = m
		return s.ack(wire.PUBREC, p.PacketID), m, nil
	case wire.PUBREL:
		delete(s.inbound, p.PacketID)
		return s.ack(wire.PUBCOMP, p.PacketID), msg{}, nil
	case wire.DISCONNECT:
		return nil, msg{}, fmt.Errorf("%s: DISCONNECT %#x from the broker", s.id, p.ReasonCode)
	}
	return nil, msg{}, nil
}

func (s *subscriber) deliver(m msg, qos byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.got[m]
	s.got[m] = n + 1
	s.lastMsg = m
	if n > 0 {
		if qos == 2 {
			s.tg.violation(propExactlyOnce, "%s got %v a second time at QoS 2", s.id, m)
		}
		return
	}
	if s.orderProp != "" && m.seq < s.last[m.pub] {
		s.tg.violation(s.orderProp, "%s got %v after %s %d", s.id, m, m.pub, s.last[m.pub])
	}
	s.last[m.pub] = max(s.last[m.pub], m.seq)
}

// hasAll reports whether s received every message the publishers acknowledged.
func (s *subscriber) hasAll(pubs []*publisher) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pb := range pubs {
		for _, seq := range pb.acked {
			if s.got[msg{pb.name, seq}] == 0 {
				return false
			}
		}
	}
	return true
}

// missing lists the acknowledged messages of pubs that none of subs received.
func missing(pubs []*publisher, subs ...*subscriber) []msg {
	var out []msg
	for _, pb := range pubs {
		for _, seq := range pb.acked {
			m := msg{pb.name, seq}
			found := false
			for _, s := range subs {
				s.mu.Lock()
				found = found || s.got[m] > 0
				s.mu.Unlock()
			}
			if !found {
				out = append(out, m)
			}
		}
	}
	return out
}
