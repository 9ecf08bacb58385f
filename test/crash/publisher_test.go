package crash

import (
	"errors"
	"fmt"
	"sync"

	"github.com/plumemq/plume/conformance/wire"
)

// sent is what a publisher knows of one of its messages.
type sent struct {
	topic  string
	qos    byte
	retain bool
	expiry uint32 // Message Expiry Interval, seconds; 0: none
	sends  int    // PUBLISH packets written for it (the first, then resends with DUP)
	// acked: the broker answered PUBACK (QoS 1) or PUBREC (QoS 2) with a
	// success code: accepted, and owed to every matching session.
	acked   bool
	ackLife int  // the broker life of the acknowledgement
	reason  byte // its reason code: 0x00, or 0x10 No matching subscribers
}

// publisher publishes numbered messages one at a time over a persistent
// session and records which the broker acknowledged. When the broker dies
// under a message, it resumes its session and continues the flow as MQTT
// requires [MQTT-4.4.0-1]: a PUBLISH not yet acknowledged is sent again with
// DUP and the same packet id; a QoS 2 message past PUBREC is owed a PUBREL.
type publisher struct {
	*peer
	// next picks the topic, QoS and retain flag of message seq in run.
	next func(seq int) (topic string, qos byte, retain bool)

	mu   sync.Mutex // guards msgs and cur against the killer's snapshot
	msgs []sent     // message seq is msgs[seq-1]
	cur  *flight
	// started counts messages begun per broker life: run begins at most
	// perLife in one life, which bounds what the offline sessions queue.
	started map[int]int
}

// flight is the message whose flow is not complete.
type flight struct {
	seq int
	id  uint16
	rel bool // PUBREC seen: a PUBREL is owed, then PUBCOMP awaited
}

// perLife bounds the messages one publisher begins in one broker life.
const perLife = 40

func newPublisher(h *harness, name string, version byte) *publisher {
	return &publisher{peer: newPeer(h, name, version, farExpiry), started: map[int]int{}}
}

// open makes the publisher's session: new (the client id is unique to the run).
func (pb *publisher) open() error {
	_, err := pb.connect(pb.version == 5) // 3.1.1: Clean Session 0 from the start
	return err
}

// run publishes until stop is closed, at most perLife messages per life,
// and returns once the message in flight completed.
func (pb *publisher) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		life, _ := pb.h.state()
		pb.mu.Lock()
		full := pb.started[life] >= perLife
		pb.mu.Unlock()
		if full {
			_, err := pb.h.await(stop, func(l int, _ bool) bool { return l > life })
			if errors.Is(err, errStopped) {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		pb.mu.Lock()
		seq := len(pb.msgs) + 1
		pb.mu.Unlock()
		topic, qos, retain := pb.next(seq)
		if err := pb.publish(topic, qos, retain, 0); err != nil {
			return err
		}
	}
}

// publish sends one message and completes its flow, across kills.
func (pb *publisher) publish(topic string, qos byte, retain bool, expiry uint32) error {
	life, _ := pb.h.state()
	pb.mu.Lock()
	pb.msgs = append(pb.msgs, sent{topic: topic, qos: qos, retain: retain, expiry: expiry, sends: 1})
	seq := len(pb.msgs)
	pb.cur = &flight{seq: seq, id: uint16(seq%65535 + 1)}
	pb.started[life]++
	pb.mu.Unlock()
	if pb.conn != nil {
		if err := pb.send(pb.packet(false)); err != nil {
			pb.drop() // resent with DUP on the next connection
		}
	}
	for pb.cur != nil {
		if pb.conn == nil {
			if err := pb.resume(); err != nil {
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
	pb.mu.Lock()
	defer pb.mu.Unlock()
	m := pb.msgs[pb.cur.seq-1]
	p := wire.Publish{Topic: m.topic, QoS: m.qos, Retain: m.retain, Dup: dup, PacketID: pb.cur.id,
		Payload: payload(msg{pb.name, pb.cur.seq})}
	if m.expiry > 0 && pb.version == 5 {
		p.Props = wire.Properties{wire.Int(wire.PropMessageExpiry, m.expiry)}
	}
	return p.Encode(pb.version)
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
// is dropped for the caller to resume; an answer no kill explains is an error.
func (pb *publisher) step() error {
	p, err := pb.conn.Read(ioWait)
	if errors.Is(err, wire.ErrTimeout) {
		if life, up := pb.h.state(); up && life == pb.life {
			return fmt.Errorf("%s: no answer for %s within %v while the broker was up (life %d)", pb.name, pb.cur, ioWait, life)
		}
	}
	if err != nil {
		pb.drop()
		return nil
	}
	cur := pb.cur
	m := msg{pb.name, cur.seq}
	switch {
	case (p.Type == wire.PUBACK || p.Type == wire.PUBREC) && p.PacketID == cur.id && !cur.rel:
		if p.ReasonCode >= 0x80 {
			return fmt.Errorf("%s: %v refused: %v", pb.name, m, p)
		}
		pb.mu.Lock()
		s := &pb.msgs[cur.seq-1]
		if want := map[byte]byte{1: wire.PUBACK, 2: wire.PUBREC}[s.qos]; p.Type != want {
			pb.mu.Unlock()
			return fmt.Errorf("%s: %v at QoS %d answered with %v", pb.name, m, s.qos, p)
		}
		if !s.acked {
			s.acked, s.ackLife, s.reason = true, pb.life, p.ReasonCode
		}
		if p.Type == wire.PUBACK {
			pb.cur = nil
		} else {
			cur.rel = true
		}
		pb.mu.Unlock()
		pb.h.noteAck()
		if cur.rel {
			if err := pb.send(pb.ack(wire.PUBREL, cur.id)); err != nil {
				pb.drop()
			}
		}
	case p.Type == wire.PUBCOMP && p.PacketID == cur.id && cur.rel:
		// Any reason code: 0x92 Packet Identifier not found is right when
		// the broker had completed the flow before it died and only the
		// PUBCOMP was lost.
		pb.mu.Lock()
		pb.cur = nil
		pb.mu.Unlock()
	case p.Type == wire.DISCONNECT:
		// 5.0: 0x8B Server shutting down, from the clean stop; the flow
		// continues on the next connection.
		pb.drop()
	default:
		return fmt.Errorf("%s: got %v while %v was in flight", pb.name, p, cur)
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

// inFlight describes the message in flight, for the log of a kill.
func (pb *publisher) inFlight() string {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	acked := 0
	for _, m := range pb.msgs {
		if m.acked {
			acked++
		}
	}
	if pb.cur == nil {
		return fmt.Sprintf("%s: idle, %d/%d acknowledged", pb.name, acked, len(pb.msgs))
	}
	m := pb.msgs[pb.cur.seq-1]
	return fmt.Sprintf("%s: %v QoS %d sent %d× acked %v, %d/%d acknowledged", pb.name, pb.cur, m.qos, m.sends, m.acked, acked, len(pb.msgs))
}

// inFlightSeq is the sequence number in flight (0: none) for the report.
func (pb *publisher) inFlightSeq() int {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.cur == nil {
		return 0
	}
	return pb.cur.seq
}
