package cluster

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// sent is what a publisher knows of one of its messages.
type sent struct {
	qos   byte
	sends int // PUBLISH packets written for it (the first, then resends with DUP)
	// acked: a node answered PUBACK (QoS 1) or PUBREC (QoS 2) with a
	// success code: the message is owed to every matching session.
	acked    bool
	ackAt    time.Time
	ackNode  string
	ackEpoch int
	refused  byte // a reason code >= 0x80 that ended the flow instead
}

// publisher publishes numbered messages one at a time at one QoS over a
// persistent session, and moves to a survivor when its node dies. It
// continues a flow cut by a kill as MQTT requires [MQTT-4.4.0-1]: a PUBLISH
// not acknowledged is sent again with DUP and the same packet id; a QoS 2
// message past PUBREC is owed a PUBREL.
type publisher struct {
	*client
	qos   byte
	topic string

	mu      sync.Mutex // guards msgs and cur against the killer's snapshot and the verdict
	msgs    []sent     // message seq is msgs[seq-1]
	cur     *flight
	started map[int]int // messages begun per epoch
}

// flight is the message whose flow is not complete.
type flight struct {
	seq int
	id  uint16
	rel bool // PUBREC seen: a PUBREL is owed, then PUBCOMP awaited
}

func (f *faultRun) newPublisher(name string, home int, qos byte) *publisher {
	return &publisher{client: f.newClient(name, home, 5, false), qos: qos, topic: f.tag + "/data/" + name, started: map[int]int{}}
}

// run publishes until stop is closed, at most perEpoch messages between
// two kills, and returns once the message in flight completed.
func (pb *publisher) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		case <-pb.f.abort:
			return nil
		default:
		}
		epoch, changed := pb.f.state()
		pb.mu.Lock()
		full := pb.started[epoch] >= perEpoch
		pb.mu.Unlock()
		if full {
			select {
			case <-changed:
			case <-stop:
			}
			continue
		}
		if err := pb.publish(); err != nil {
			return err
		}
	}
}

// count is how many messages the publisher began.
func (pb *publisher) count() int {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return len(pb.msgs)
}

// publish sends one message and completes its flow, across kills.
func (pb *publisher) publish() error {
	epoch, _ := pb.f.state()
	pb.mu.Lock()
	pb.msgs = append(pb.msgs, sent{qos: pb.qos, sends: 1})
	seq := len(pb.msgs)
	pb.cur = &flight{seq: seq, id: uint16(seq%65535 + 1)}
	pb.started[epoch]++
	pb.mu.Unlock()
	if pb.conn != nil {
		if err := pb.send(pb.packet(false)); err != nil {
			pb.drop() // resent with DUP on the next connection
		}
	}
	for pb.cur != nil {
		if pb.conn == nil {
			if _, err := pb.connect(false); err != nil {
				return err
			}
			if err := pb.resend(); err != nil {
				pb.drop()
				continue
			}
		}
		if err := pb.step(); err != nil {
			return err
		}
	}
	return nil
}

// packet is the PUBLISH of the message in flight.
func (pb *publisher) packet(dup bool) []byte {
	m := msg{pb.name, pb.cur.seq}
	return wire.Publish{Topic: pb.topic, QoS: pb.qos, Dup: dup, PacketID: pb.cur.id, Payload: m.payload()}.Encode(pb.version)
}

// resend continues the flow in flight on a new connection [MQTT-4.4.0-1].
func (pb *publisher) resend() error {
	if pb.cur.rel {
		return pb.send(pb.ack(wire.PUBREL, pb.cur.id))
	}
	pb.mu.Lock()
	pb.msgs[pb.cur.seq-1].sends++
	pb.mu.Unlock()
	return pb.send(pb.packet(true))
}

// step reads one packet and takes the flow one step on. A lost connection
// is dropped for the caller to resume; so is one that stays silent for
// ioWait (a stall, logged: it loses nothing by itself).
func (pb *publisher) step() error {
	p, err := pb.conn.Read(ioWait)
	if errors.Is(err, wire.ErrTimeout) {
		pb.f.vmu.Lock()
		pb.f.stalls = append(pb.f.stalls, fmt.Sprintf("%s: no answer for %v from %s within %v, at %s",
			pb.name, pb.cur, pb.at, ioWait, pb.f.since(time.Now())))
		pb.f.vmu.Unlock()
	}
	if err != nil {
		pb.drop()
		return nil
	}
	cur := pb.cur
	switch {
	case (p.Type == wire.PUBACK || p.Type == wire.PUBREC) && p.PacketID == cur.id && !cur.rel:
		if want := map[byte]byte{1: wire.PUBACK, 2: wire.PUBREC}[pb.qos]; p.Type != want {
			return fmt.Errorf("%s: %v at QoS %d answered with %v", pb.name, msg{pb.name, cur.seq}, pb.qos, p)
		}
		epoch, _ := pb.f.state()
		refused := p.ReasonCode >= 0x80
		pb.mu.Lock()
		s := &pb.msgs[cur.seq-1]
		switch {
		case refused: // not acknowledged, not owed; the flow is over
			s.refused = p.ReasonCode
		case !s.acked:
			s.acked, s.ackAt, s.ackNode, s.ackEpoch = true, time.Now(), pb.at, epoch
		}
		if refused || p.Type == wire.PUBACK {
			pb.cur = nil
		} else {
			cur.rel = true
		}
		pb.mu.Unlock()
		if p.ReasonCode >= 0x80 {
			pb.f.vmu.Lock()
			pb.f.refusals = append(pb.f.refusals, fmt.Sprintf("%s: %v refused by %s at %s: %v",
				pb.name, msg{pb.name, cur.seq}, pb.at, pb.f.since(time.Now()), p))
			pb.f.vmu.Unlock()
			return nil
		}
		pb.f.noteAck()
		if cur.rel {
			if err := pb.send(pb.ack(wire.PUBREL, cur.id)); err != nil {
				pb.drop()
			}
		}
	case p.Type == wire.PUBCOMP && p.PacketID == cur.id && cur.rel:
		// Any reason code: 0x92 Packet Identifier not found is right when
		// the flow completed before a kill and only the PUBCOMP was lost.
		pb.mu.Lock()
		pb.cur = nil
		pb.mu.Unlock()
	case p.Type == wire.DISCONNECT:
		pb.drop() // e.g. 0x8E Session taken over, 0x8B: continue elsewhere
	default:
		return fmt.Errorf("%s: got %v from %s while %v was in flight", pb.name, p, pb.at, cur)
	}
	return nil
}

func (f *flight) String() string {
	if f == nil {
		return "nothing"
	}
	if f.rel {
		return fmt.Sprintf("#%d (id %d) PUBREL", f.seq, f.id)
	}
	return fmt.Sprintf("#%d (id %d) PUBLISH", f.seq, f.id)
}

// inFlight describes the publisher's state, for the log of a kill.
func (pb *publisher) inFlight() string {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	acked := 0
	for _, m := range pb.msgs {
		if m.acked {
			acked++
		}
	}
	return fmt.Sprintf("%s on %s: %v in flight, %d/%d acknowledged", pb.name, pb.node(), pb.cur, acked, len(pb.msgs))
}

// delivery is one PUBLISH a subscriber took as a message: the first copy
// of a QoS 2 flow, every copy at QoS 1.
type delivery struct {
	dup  bool
	qos  byte
	id   uint16 // packet id: a QoS 2 copy under an id whose PUBREL is awaited is the same flow
	at   time.Time
	node string
	rel  time.Time // QoS 2: when its PUBREL came (zero: never), for a duplicate's report
}

// subscriber holds a persistent session subscribed to one filter at QoS 2.
// It keeps its side of the session across connections as a client must:
// the QoS 2 packet ids it answered with PUBREC and whose PUBREL it awaits,
// so that a PUBLISH resent under such an id is the same message.
type subscriber struct {
	*client
	filter string

	mu      sync.Mutex // guards got against the drain and the verdict
	got     map[msg][]delivery
	inbound map[uint16]msg
}

func (f *faultRun) newSubscriber(name string, home int, version byte, sticky bool, filter string) *subscriber {
	return &subscriber{client: f.newClient(name, home, version, sticky), filter: filter,
		got: map[msg][]delivery{}, inbound: map[uint16]msg{}}
}

// open makes the session (new: the client id is unique to the run) and its
// subscription.
func (s *subscriber) open() error {
	if _, err := s.connect(true); err != nil {
		return err
	}
	return s.subscribe()
}

func (s *subscriber) subscribe() error {
	sub := wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: s.filter, Options: 2}}}
	if err := s.send(sub.Encode(s.version)); err != nil {
		return err
	}
	for {
		p, err := s.conn.Read(ioWait)
		if err != nil {
			return fmt.Errorf("%s: SUBACK from %s: %w", s.name, s.at, err)
		}
		if p.Type == wire.SUBACK {
			if len(p.ReasonCodes) != 1 || p.ReasonCodes[0] != 2 {
				return fmt.Errorf("%s: SUBACK % x from %s, want QoS 2 granted", s.name, p.ReasonCodes, s.at)
			}
			return nil
		}
		if err := s.takeAndAnswer(p); err != nil {
			return err
		}
		if s.conn == nil {
			return fmt.Errorf("%s: disconnected by %s before SUBACK", s.name, s.at)
		}
	}
}

// disconnect ends the connection with DISCONNECT: the session stays.
func (s *subscriber) disconnect() error {
	err := s.send(wire.Disconnect(s.version, 0, nil))
	s.drop()
	return err
}

// run receives until stop is closed, resuming its session after every
// kill. A session found gone (noted by connect) is subscribed again.
func (s *subscriber) run(stop <-chan struct{}) error {
	defer s.drop()
	s.quit = stop
	for {
		select {
		case <-stop:
			return nil
		case <-s.f.abort:
			return nil
		default:
		}
		if s.conn == nil {
			present, err := s.connect(false)
			if errors.Is(err, errAborted) {
				return nil
			}
			if err != nil {
				return err
			}
			if !present {
				s.mu.Lock()
				clear(s.inbound) // a new session: its packet ids start afresh
				s.mu.Unlock()
				if err := s.subscribe(); err != nil {
					s.drop()
					continue
				}
			}
		}
		p, err := s.conn.Read(200 * time.Millisecond)
		if errors.Is(err, wire.ErrTimeout) {
			continue
		}
		if err != nil {
			s.drop()
			continue
		}
		if err := s.takeAndAnswer(p); err != nil {
			return err
		}
	}
}

// awaitMsg reads (before run starts) until m arrives or d passes.
func (s *subscriber) awaitMsg(m msg, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		n := len(s.got[m])
		s.mu.Unlock()
		if n > 0 {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		p, err := s.conn.Read(left)
		if err != nil {
			return false
		}
		if s.takeAndAnswer(p) != nil || s.conn == nil {
			return false
		}
	}
}

// takeAndAnswer records one packet and sends its answer; a write that
// fails drops the connection (run resumes it).
func (s *subscriber) takeAndAnswer(p *wire.Packet) error {
	answer, err := s.take(p)
	if err != nil {
		return err
	}
	if answer != nil && s.send(answer) != nil {
		s.drop()
	}
	return nil
}

// take records one packet and returns its answer (nil: none).
func (s *subscriber) take(p *wire.Packet) ([]byte, error) {
	switch p.Type {
	case wire.PUBLISH:
		m, err := parseMsg(p.Payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if was, ok := s.inbound[p.PacketID]; p.QoS == 2 && ok && was == m {
			return s.ack(wire.PUBREC, p.PacketID), nil // the same flow again
		}
		s.got[m] = append(s.got[m], delivery{dup: p.Dup, qos: p.QoS, id: p.PacketID, at: time.Now(), node: s.at})
		s.f.noteDelivery()
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
		if m, ok := s.inbound[p.PacketID]; ok {
			if ds := s.got[m]; len(ds) > 0 {
				ds[len(ds)-1].rel = time.Now()
			}
		}
		delete(s.inbound, p.PacketID)
		s.mu.Unlock()
		return s.ack(wire.PUBCOMP, p.PacketID), nil
	case wire.DISCONNECT:
		s.drop() // e.g. 0x8E Session taken over, 0x8B Server shutting down
		return nil, nil
	case wire.PINGRESP:
		return nil, nil
	}
	return nil, fmt.Errorf("%s: unexpected %v from %s", s.name, p, s.at)
}

// owed lists the messages the publishers saw acknowledged: the filter
// matches every publisher's topic.
func owed(pubs []*publisher) []msg {
	var out []msg
	for _, pb := range pubs {
		pb.mu.Lock()
		for i, m := range pb.msgs {
			if m.acked {
				out = append(out, msg{pb.name, i + 1})
			}
		}
		pb.mu.Unlock()
	}
	return out
}

// hasAll reports whether s received every message owed to it.
func (s *subscriber) hasAll(pubs []*publisher) bool {
	o := owed(pubs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range o {
		if len(s.got[m]) == 0 {
			return false
		}
	}
	return true
}
