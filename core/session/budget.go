package session

import (
	"unsafe"

	"github.com/plumemq/plume/core/budget"
)

// Limits bound what a session holds for its client while the client is
// offline or slower than its publishers.
type Limits struct {
	// MaxQueued is how many QoS 1 and 2 messages may wait behind the in-flight
	// window.
	MaxQueued int
	// MaxBytes bounds the bytes of the messages the session holds, in flight
	// and queued alike: each counts its Message.Size and its DeliverySlot;
	// 0 means no bound. In-flight messages count because their payload stays
	// in memory until the client acknowledges it.
	MaxBytes int64
	// Budget is the broker-wide budget that every session's held bytes draw
	// from; nil means none. A message held by n sessions is counted n times:
	// each session holds its own reference (and, while the client is
	// connected, its own encoded copy in the write buffer), and per-session
	// counting needs no shared state on the message.
	Budget *budget.Bytes
	// Journal is where kept sessions (Session.Keep, Restore) report their
	// changes; nil without one. Here rather than in each session, which
	// every session would pay for (docs/decisions/0048).
	Journal Journal
}

// Outcome is what became of a delivery offered to a session.
type Outcome uint8

// The outcomes. Every one but Accepted, AcceptedOver and Gone is a drop, which the session
// counts in Stats.Dropped.
const (
	Accepted       Outcome = iota // sent, or queued behind the window
	DropOffline                   // QoS 0 while no connection is attached
	DropBackedUp                  // QoS 0 refused by a backed-up connection
	DropQueueFull                 // Limits.MaxQueued messages already wait
	DropQueueBytes                // Limits.MaxBytes would be passed
	DropBudget                    // the broker-wide Budget would be passed
	Gone                          // the session has ended (End); not a drop
	AcceptedOver                  // taken past the soft limits by OfferOver (backpressure.go); not a drop
)

var outcomeNames = [...]string{
	Accepted:       "accepted",
	DropOffline:    "offline",
	DropBackedUp:   "backed up",
	DropQueueFull:  "queue full",
	DropQueueBytes: "queue bytes",
	DropBudget:     "memory budget",
	Gone:           "session gone",
	AcceptedOver:   "accepted over the limit",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// DeliverySlot is what a held QoS 1 or 2 message costs its session beyond
// its topic and payload: its Delivery in the queue or the in-flight window.
// For small messages it is most of the memory (an 8-byte reading holds 80
// bytes of slot), so a byte bound that left it out bounded a fleet's
// backlog at ten times the memory it said (docs/decisions/0046). What the
// queue's slice keeps spare as it grows is not counted: at most as much
// again, and given back as it drains.
const DeliverySlot = int64(unsafe.Sizeof(Delivery{}))

// charge is what d counts against Limits.MaxBytes and the Budget while the
// session holds its message.
func charge(d *Delivery) int64 { return d.Msg.Size() + DeliverySlot }

// hold reserves the bytes of d for the session, within its own bound and the
// shared budget; it reports the drop outcome when it cannot. With over, the
// session's own bound may be passed up to overfillFactor times
// (AcceptedOver); the shared budget never is. The caller holds s.mu.
func (s *Session) hold(d *Delivery, over bool) Outcome {
	n := charge(d)
	taken := Accepted
	if s.limits.MaxBytes > 0 && s.held+n > s.limits.MaxBytes {
		if !over || s.held+n > overfillFactor*s.limits.MaxBytes {
			return DropQueueBytes
		}
		taken = AcceptedOver
	}
	if !s.limits.Budget.Take(n) {
		return DropBudget
	}
	s.held += n
	return taken
}

// forceHold accounts for d without checking the bounds: it is already held
// (restored from a store) and dropping it would lose what was acknowledged.
func (s *Session) forceHold(d *Delivery) {
	if d.Msg == nil {
		return
	}
	n := charge(d)
	s.held += n
	s.limits.Budget.Force(n)
}

// release gives back the bytes of d, which the session no longer holds. A
// QoS 2 delivery past PUBREC has no message and was released then, slot
// included: what waits for PUBCOMP is a packet id, bounded by the client's
// Receive Maximum rather than by bytes.
func (s *Session) release(d *Delivery) {
	if d.Msg == nil || s.ended {
		return // End gave everything back already
	}
	n := charge(d)
	s.held -= n
	s.limits.Budget.Give(n)
}
