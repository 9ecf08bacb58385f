package session

import (
	"sync"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// Sink is the connection a session is attached to. The session calls it with
// its own lock held, so what it sends goes out in the order it decided
// [MQTT-4.6.0-6].
type Sink interface {
	// SendPublish encodes d as a PUBLISH and queues it for writing. It may
	// refuse (false) a QoS 0 delivery when the connection is backed up; QoS 1
	// and 2 deliveries are bounded by the in-flight window and always taken.
	// A non-nil batch is the caller's (see DeliverBatched): the sink may leave
	// its write to be flushed when that batch ends.
	SendPublish(d Delivery, batch Batch) bool
	// SendPubrel queues a PUBREL for a QoS 2 delivery that was PUBRECed.
	// A non-nil batch is the caller's, as for SendPublish.
	SendPubrel(id uint16, batch Batch)
}

// A Batch collects the sinks that a caller of DeliverBatched wrote to, so that
// it can flush each of them once when its batch of deliveries ends instead of
// once per delivery. The session only hands it to the sink, and never keeps it:
// deliveries sent later (a resend) flush as usual; what an acknowledgement
// sends (AcknowledgeBatched: a PUBREL, the queue drained into the window)
// joins the batch of the reader that read the acknowledgement.
type Batch interface {
	Defer(Sink)
}

// Journal is told of every change to a kept session's deliveries and inbound
// QoS 2 ids, with the session's lock held, in the order the changes happen:
// core/journal turns them into Store ops. Sessions that do not outlive their
// connection have none, and pay nothing.
type Journal interface {
	// Stored: d entered the session, queued or (PacketID set) sent. The
	// journal sets d.Seq.
	Stored(client string, d *Delivery)
	// Changed: d was sent (PacketID set) or released (Released set; d.Msg is
	// still there, and dropped after the call).
	Changed(client string, d *Delivery)
	// Removed: d left the session: acknowledged, expired, refused by the
	// client's size limit, or the session ended.
	Removed(client string, d *Delivery)
	// Inbound: an inbound QoS 2 packet id was recorded (added) or released.
	Inbound(client string, id uint16, added bool)
}

// Subscription is one of the session's subscriptions, as the client sent it.
type Subscription struct {
	packets.Subscription        // Filter is as sent, "$share/..." included
	Identifier           uint32 // 0 = none
}

// Session is one client's session state. All methods are safe for concurrent use.
type Session struct {
	ID string
	// Owner is the identity that created the session. It is set before the
	// session is shared and never changes: another identity gets a new
	// session or is refused, it never takes this one over.
	Owner Owner

	mu     sync.Mutex
	sink   Sink
	limits *Limits // shared by the broker's sessions, never written
	held   int64   // bytes of the messages in out and pending (charge)
	subs   map[string]Subscription
	// tr is the session's messages in flight and queued and its inbound
	// QoS 2 ids: made with the first of them, nil for a session that never
	// had one, as a fleet's idle device's (docs/decisions/0048: 80 bytes
	// of every idle session).
	tr      *traffic
	dropped uint64
	window  int32  // in-flight limit of the attached connection (Receive Maximum, at most 65,535)
	expiry  uint32 // Session Expiry Interval, seconds
	nextID  uint16
	ended   bool // End was called: nothing more is taken
	// kept: the session reports its changes to limits.Journal (it is kept
	// across restarts). A flag, not the interface: 16 bytes of every
	// session (docs/decisions/0048).
	kept    bool
	stalled bool // a publisher waiting for room gave up on this full episode (backpressure.go)
	// room is closed and cleared when the session is back under its soft
	// limits (backpressure.go); made only when a publisher waits for it.
	room chan struct{}
}

// New makes an empty session that holds messages for its client, while it is
// offline or its window is full, within limits.
// limits is shared and read-only: every session of a broker points at the
// same one (an idle session should not carry a copy).
func New(id string, limits *Limits) *Session {
	s := new(Session)
	s.Init(id, limits)
	return s
}

// Init readies a zero Session in place, as New does, for a caller that
// holds the session inside a struct of its own: the broker's session entry,
// one allocation per session instead of two (docs/decisions/0042). s must
// not be shared yet.
func (s *Session) Init(id string, limits *Limits) {
	if limits == nil {
		limits = &Limits{}
	}
	s.ID, s.limits = id, limits
}

// Keep makes the session report its changes to its Limits' Journal from
// now on, before it is shared; without a Journal it does nothing.
func (s *Session) Keep() {
	s.mu.Lock()
	s.kept = s.limits.Journal != nil
	s.mu.Unlock()
}

// Kept reports whether the session reports its changes to a journal.
func (s *Session) Kept() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept
}

// Attach connects the session to sink with an in-flight window of window
// messages, and resends what was in flight, in order, with DUP set
// [MQTT-4.4.0-1]: PUBLISH for unacknowledged messages, PUBREL for released
// QoS 2 ones. Then queued messages fill the window.
func (s *Session) Attach(sink Sink, window int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake() // the drain below may make room
	s.sink, s.window = sink, int32(min(max(window, 1), 1<<16))
	s.tr.eachInFlight(func(d *Delivery) {
		if d.Released {
			sink.SendPubrel(d.PacketID, nil)
			return
		}
		d.Dup = true
		sink.SendPublish(*d, nil)
	})
	// [MQTT-3.3.2-5] messages that expired while the client was away are
	// dropped, not sent: drain(0) would skip the expiry check.
	s.drain(time.Now().UnixNano(), nil)
}

// Detach disconnects sink from the session; a sink that was already replaced
// (session taken over) changes nothing. It reports whether sink was attached.
func (s *Session) Detach(sink Sink) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sink != sink {
		return false
	}
	s.sink = nil
	return true
}

// Online reports whether a connection is attached.
func (s *Session) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sink != nil
}

// Deliver offers d to the session at time now (Unix ns). QoS 0 goes straight to
// the connection or nowhere; QoS 1 and 2 enter the in-flight window or the
// queue behind what is already waiting. It reports false when the delivery was
// dropped (offline QoS 0, backed-up connection, or a full queue).
func (s *Session) Deliver(d Delivery, now int64) bool {
	return s.DeliverBatched(d, now, nil)
}

// DeliverBatched is Deliver for a caller that delivers many messages in a row
// (a publisher's read batch) and flushes the connections written to once, at
// the end, through batch.
func (s *Session) DeliverBatched(d Delivery, now int64, batch Batch) bool {
	return s.Offer(d, now, batch) == Accepted
}

// Offer is DeliverBatched telling why a delivery was not taken. Overflow
// drops the newest message, the one offered: what already waits keeps its
// place and its order. A QoS 1 or 2 message counts against Limits.MaxBytes
// and the broker-wide Budget from the moment it is taken until it is
// acknowledged (PUBACK, or PUBREC for QoS 2), expires unsent, or the session
// ends.
func (s *Session) Offer(d Delivery, now int64, batch Batch) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.offerOver(d, batch, false)
	if o != Accepted && o != Gone {
		s.dropped++
	}
	return o
}

// offerOver offers d; over lets a QoS 1 or 2 delivery past the soft limits,
// up to overfillFactor times them (AcceptedOver). The caller holds s.mu.
func (s *Session) offerOver(d Delivery, batch Batch, over bool) Outcome {
	switch {
	case s.ended:
		// The broker hands a shared delivery to another member (End).
		return Gone
	case d.QoS == 0 && s.sink == nil:
		return DropOffline
	case d.QoS == 0:
		if !s.sink.SendPublish(d, batch) {
			return DropBackedUp
		}
		return Accepted
	}
	queued := s.tr.queued()
	toWindow := s.sink != nil && queued == 0 && s.tr.inFlight() < int(s.window)
	taken := Accepted
	if !toWindow && queued >= s.limits.MaxQueued {
		if !over || queued >= overfillFactor*s.limits.MaxQueued {
			return DropQueueFull
		}
		taken = AcceptedOver
	}
	o := s.hold(&d, over)
	if o != Accepted && o != AcceptedOver {
		return o
	}
	if toWindow {
		s.send(d, batch)
	} else {
		// The journal is told of the queued copy, never of d: an address
		// of d passed to an interface moves every delivery to the heap,
		// journal or not (decision 0038).
		q := s.traffic().pending.push(d)
		if s.kept {
			s.stored(q)
		}
	}
	if o == AcceptedOver {
		taken = o
	}
	return taken
}

// send assigns a packet id, records d as in flight, and hands it to the sink.
// A kept session records the packet id before the PUBLISH goes out, so that
// a resend after a restart uses the same one (the client may hold a QoS 2 id).
//
// It records d in the window first and works on that copy: the journal
// and forget take its address, and an address of the argument would move
// every delivery to the heap (decision 0038).
func (s *Session) send(d Delivery, batch Batch) {
	d.PacketID = s.newPacketID()
	w := s.traffic().out.add(d)
	if s.kept {
		if w.Seq == 0 {
			s.stored(w)
		} else {
			s.limits.Journal.Changed(s.ID, w)
		}
	}
	if !s.sink.SendPublish(*w, batch) {
		// Too large for the client: treated as delivered.
		id := w.PacketID
		s.forget(w)
		s.tr.out.remove(id)
	}
}

// stored tells the journal of a delivery the session now keeps, and counts
// it with its message's Gate if it is QoS 1. The session has a journal.
func (s *Session) stored(d *Delivery) {
	s.limits.Journal.Stored(s.ID, d)
	if d.Msg != nil && d.Msg.Gate != nil && d.QoS == 1 {
		d.gated = true
		d.Msg.Gate.Hold()
	}
}

// forget releases d, which left the session without its client's PUBACK,
// and tells the journal.
func (s *Session) forget(d *Delivery) { s.forgetAcked(d, false) }

// forgetAcked is forget, saying whether the client acknowledged d.
func (s *Session) forgetAcked(d *Delivery, acked bool) {
	if d.gated {
		d.gated = false
		if acked {
			d.Msg.Gate.Acked()
		} else {
			d.Msg.Gate.Dropped()
		}
	}
	s.release(d)
	if s.kept {
		s.limits.Journal.Removed(s.ID, d)
	}
}

// newPacketID returns a non-zero id not in flight [MQTT-2.2.1-3].
func (s *Session) newPacketID() uint16 {
	for {
		s.nextID++
		if s.nextID != 0 && !s.tr.has(s.nextID) {
			return s.nextID
		}
	}
}

// drain moves queued messages into the window while there is room, skipping
// those that expired while they waited [MQTT-3.3.2-5]. A non-nil batch is
// the caller's (AcknowledgeBatched).
func (s *Session) drain(now int64, batch Batch) {
	for s.sink != nil && s.tr.inFlight() < int(s.window) {
		d := s.tr.peek()
		if d == nil {
			return
		}
		if now != 0 && d.Msg.Expired(now) {
			s.forget(d) // in place: see send
			s.tr.pending.pop()
			continue
		}
		s.send(s.tr.pending.pop(), batch)
	}
}

// Acknowledge handles a PUBACK, PUBREC or PUBCOMP for an outbound message at
// time now. It reports false when no message with that id and state is in
// flight. A PUBREC answers with PUBREL, unless its reason code is an error, in
// which case the exchange ends there [MQTT-4.3.3-4].
func (s *Session) Acknowledge(kind packets.Type, id uint16, reason packets.ReasonCode, now int64) bool {
	return s.AcknowledgeBatched(kind, id, reason, now, nil)
}

// AcknowledgeBatched is Acknowledge for a caller with a batch, as
// DeliverBatched is: the reader that read the acknowledgement. What the
// acknowledgement sends (the PUBREL that answers a PUBREC, queued messages
// moved into the freed window) is handed to the sink with batch, so it goes
// out in the write that reader makes before it next waits, with the other
// answers of its read. Sent on their own, each cost a flusher goroutine and
// a write of its own (decision 0045).
func (s *Session) AcknowledgeBatched(kind packets.Type, id uint16, reason packets.ReasonCode, now int64, batch Batch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake() // an acknowledgement frees room: a waiting publisher may go on
	d := s.tr.get(id)
	if d == nil {
		return false
	}
	switch kind {
	case packets.TypePuback:
		if d.QoS != 1 {
			return false
		}
		s.forgetAcked(d, true)
		s.tr.out.remove(id)
	case packets.TypePubrec:
		if d.QoS != 2 {
			return false
		}
		if d.Released {
			// A repeated PUBREC: answer it with PUBREL again [MQTT-4.3.3-4].
			if s.sink != nil {
				s.sink.SendPubrel(id, batch)
			}
			return true
		}
		if reason.IsError() {
			s.forget(d)
			s.tr.out.remove(id)
			break
		}
		s.release(d) // the payload is no longer needed [MQTT-4.3.3-5]
		d.Released = true
		if s.kept {
			// Recorded before the PUBREL goes out: once the client has it, a
			// resent PUBLISH would be a new message to it.
			s.limits.Journal.Changed(s.ID, d)
		}
		d.Msg = nil
		if s.sink != nil {
			s.sink.SendPubrel(id, batch)
		}
		return true
	case packets.TypePubcomp:
		if d.QoS != 2 || !d.Released {
			return false
		}
		s.forget(d)
		s.tr.out.remove(id)
	default:
		return false
	}
	s.drain(now, batch)
	return true
}

// Receipt is what ReceiveQoS2 made of an inbound QoS 2 packet id.
type Receipt uint8

// The receipts.
const (
	Received  Receipt = iota // recorded: deliver the message
	Duplicate                // already recorded: a resend, not to be delivered again [MQTT-4.3.3-10]
	Full                     // limit ids already await PUBREL [MQTT-3.3.4-9]
)

// ReceiveQoS2 records an inbound QoS 2 packet id unless it is already
// recorded (a resend) or limit ids already await their PUBREL. A resend is
// told apart first: it does not add to the window, so it never counts as Full.
func (s *Session) ReceiveQoS2(id uint16, limit int) Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr.hasInbound(id) {
		return Duplicate
	}
	if s.tr.inboundLen() >= limit {
		return Full
	}
	s.traffic().addInbound(id)
	return Received
}

// KeepQoS2 reports an inbound QoS 2 id that ReceiveQoS2 recorded to the
// journal. The broker calls it apart from ReceiveQoS2, in the same journal
// batch as the deliveries of the id's message (journal.Begin): a store must
// never hold the id without them, or a resend after a crash would be taken
// for a duplicate and never routed.
func (s *Session) KeepQoS2(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr.hasInbound(id) && s.kept {
		s.limits.Journal.Inbound(s.ID, id, true)
	}
}

// ReleaseQoS2 forgets an inbound QoS 2 packet id on PUBREL; false if unknown.
func (s *Session) ReleaseQoS2(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tr.hasInbound(id) {
		return false
	}
	delete(s.tr.inbound, id)
	if s.kept {
		s.limits.Journal.Inbound(s.ID, id, false)
	}
	return true
}

// InboundQoS2 is the number of inbound QoS 2 messages awaiting PUBREL.
func (s *Session) InboundQoS2() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tr.inboundLen()
}
