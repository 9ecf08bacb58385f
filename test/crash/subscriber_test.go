package crash

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// delivery is one PUBLISH a subscriber took as a message: the first copy of
// a QoS 2 flow, every copy at QoS 0 or 1.
type delivery struct {
	dup  bool
	qos  byte
	life int
}

// subscriber holds a persistent session subscribed to filters at qos. It
// keeps its side of the session across connections as a client must: the
// QoS 2 packet ids it answered with PUBREC and whose PUBREL it awaits, so
// that a PUBLISH resent under such an id is the same message, not a new one.
type subscriber struct {
	*peer
	filters []string
	qos     byte

	mu      sync.Mutex // guards got against the verdict and the killer's snapshot
	got     map[msg][]delivery
	inbound map[uint16]msg // QoS 2 ids answered with PUBREC, PUBREL awaited
	// strayRels counts PUBRELs for ids not awaiting one, per life: right
	// when the broker lost a PUBCOMP in a kill, a clue when a message is lost.
	strayRels map[int]int
}

func newSubscriber(h *harness, name string, version, qos byte, filters ...string) *subscriber {
	return &subscriber{peer: newPeer(h, name, version, farExpiry), filters: filters, qos: qos,
		got: map[msg][]delivery{}, inbound: map[uint16]msg{}, strayRels: map[int]int{}}
}

// open makes the session and its subscriptions (the client id is unique to
// the run, so the session is new).
func (s *subscriber) open() error {
	if _, err := s.connect(s.version == 5); err != nil {
		return err
	}
	return s.subscribe(s.qos, s.filters...)
}

// readWait is how long one read waits before run looks at stop again.
const readWait = 200 * time.Millisecond

// run receives until stop is closed, resuming its session after every
// kill; it never subscribes again: the subscriptions must survive.
func (s *subscriber) run(stop <-chan struct{}) error {
	defer s.drop()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if s.conn == nil {
			if err := s.resume(); err != nil {
				return err
			}
		}
		p, err := s.conn.Read(readWait)
		if errors.Is(err, wire.ErrTimeout) {
			continue
		}
		if err != nil {
			s.drop()
			continue
		}
		answer, err := s.take(p)
		if err != nil {
			return err
		}
		if answer != nil && s.send(answer) != nil {
			s.drop()
		}
	}
}

// take records one packet and returns its answer (nil: none).
func (s *subscriber) take(p *wire.Packet) ([]byte, error) {
	switch p.Type {
	case wire.PUBLISH:
		m, err := parsePayload(p.Payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if was, ok := s.inbound[p.PacketID]; p.QoS == 2 && ok && was == m {
			return s.ack(wire.PUBREC, p.PacketID), nil // the same flow again
		}
		s.got[m] = append(s.got[m], delivery{dup: p.Dup, qos: p.QoS, life: s.life})
		s.h.noteDelivery()
		switch p.QoS {
		case 1:
			return s.ack(wire.PUBACK, p.PacketID), nil
		case 2:
			s.inbound[p.PacketID] = m
			return s.ack(wire.PUBREC, p.PacketID), nil
		}
		return nil, nil
	case wire.PUBREL:
		s.mu.Lock()
		if _, ok := s.inbound[p.PacketID]; !ok {
			s.strayRels[s.life]++
		}
		delete(s.inbound, p.PacketID)
		s.mu.Unlock()
		return s.ack(wire.PUBCOMP, p.PacketID), nil
	case wire.DISCONNECT:
		// 5.0: 0x8B Server shutting down, on the clean stop.
		s.drop()
		return nil, nil
	case wire.PINGRESP:
		return nil, nil
	}
	return nil, fmt.Errorf("%s: unexpected %v", s.name, p)
}

// wants reports whether a message published to topic is owed to s.
func (s *subscriber) wants(topic string) bool {
	for _, f := range s.filters {
		if matches(f, topic) {
			return true
		}
	}
	return false
}

// owed lists the messages the publishers saw acknowledged that s must get:
// every one matching its subscriptions, but those with a Message Expiry.
func (s *subscriber) owed(pubs []*publisher) []msg {
	var out []msg
	for _, pb := range pubs {
		pb.mu.Lock()
		for i, m := range pb.msgs {
			if m.acked && m.expiry == 0 && s.wants(m.topic) {
				out = append(out, msg{pb.name, i + 1})
			}
		}
		pb.mu.Unlock()
	}
	return out
}

// hasAll reports whether s received every message owed to it.
func (s *subscriber) hasAll(pubs []*publisher) bool {
	owed := s.owed(pubs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range owed {
		if len(s.got[m]) == 0 {
			return false
		}
	}
	return true
}

// state describes s for the log of a kill.
func (s *subscriber) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s: %d messages, %d QoS 2 awaiting PUBREL", s.name, len(s.got), len(s.inbound))
}
