package broker

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/packets"
)

// Answers held until durable (docs/decisions/0019-durable-store.md). With a
// store, the broker must not tell a client that something is done before
// the store has it: a PUBACK or PUBREC before the message and the queue
// entries it made are committed, a SUBACK before the subscription, a CONNACK
// before the session, a PUBCOMP before the inbound id is forgotten, a PUBREL
// before the release is recorded, a QoS 2 PUBLISH before its packet id is.
// Such an answer is appended to the write buffer as usual, behind a barrier:
// the flusher writes only the bytes before it, until the journal reports
// that the batches holding the change are committed. Everything appended
// after the barrier waits too, so the connection's order is kept.

// A store that promises a loss window instead (store/disk async,
// session.WindowedStore) gets no barriers: answers go out at once, and a
// crash loses at most the window, as the store says.

// durableOut is a connection's barriers; it exists only on a broker with a
// store that is durable on return (journal.Holds).
type durableOut struct {
	mark    journal.Mark // the journal as the packet being handled began; reader-owned
	base    int64        // stream offset of c.out[0]; under wmu
	held    []heldAnswer // in stream order; under wmu
	waiting bool         // a journal.Watch for held[0] is pending; under wmu
	// failed is set by settleLocked when held answers were dropped; endIn
	// ends the connection once it has let go of wmu. Under wmu.
	failed error
}

// heldAnswer is one answer behind a barrier: it goes when its ticket's
// batches are committed, or, with a gate, once every kept session that took
// its message acknowledged it (ackGate).
type heldAnswer struct {
	at     int64 // stream offset of its first byte
	ticket journal.Ticket
	gate   *ackGate
}

// dispatchKept is dispatch on a broker with a store: a reader whose changes
// the store cannot keep up with stops reading until it has, and answers can
// tell what their packet changed (the mark). A publish's own changes are
// committed together (accept).
func (c *client) dispatchKept(h packets.FixedHeader, body []byte) error {
	j := c.b.journal
	if j == nil {
		return c.dispatch(h, body)
	}
	if wait := j.Backlogged(); wait != nil {
		c.batch.flush() // what was routed goes out meanwhile
		select {
		case <-wait:
		case <-c.stopSignal():
		}
	}
	c.beginPacket()
	return c.dispatch(h, body)
}

// beginPacket notes the journal's state as a packet's handling begins, so
// that its answer can wait for what the handling changed (sinceMark).
func (c *client) beginPacket() {
	if c.durable() != nil {
		c.durable().mark = c.b.journal.Mark()
	}
}

// sinceMark returns the ticket of the changes made since beginPacket, and
// whether there were any. Reader goroutine only.
func (c *client) sinceMark() (journal.Ticket, bool) {
	if c.durable() == nil {
		return journal.Ticket{}, false
	}
	return c.b.journal.Since(c.durable().mark)
}

// sendHeld queues p behind a barrier for the changes made while its packet
// was handled, if there were any.
func (c *client) sendHeld(p packets.Packet) {
	t, changed := c.sinceMark()
	if c.begin() {
		start := len(c.out)
		c.out = p.Append(c.out, c.version)
		if changed {
			c.holdLocked(start, t, nil)
		}
	}
	c.end()
}

// holdLocked puts a barrier before c.out[start:], the packet just appended,
// for t or g. Held after it is appended, so that a barrier settled at once
// (its batches committed already, or failed) lets it go or drops it. The
// caller holds wmu.
func (c *client) holdLocked(start int, t journal.Ticket, g *ackGate) {
	d := c.durable()
	d.held = append(d.held, heldAnswer{at: d.base + int64(start), ticket: t, gate: g})
	if len(d.held) == 1 && !d.waiting {
		c.settleLocked() // a new head: its batches may be finished, or failed, already
	}
}

// writable is how much of c.out may be written now; the caller holds wmu.
func (c *client) writable() int {
	if c.durable() == nil || len(c.durable().held) == 0 {
		return len(c.out)
	}
	return int(c.durable().held[0].at - c.durable().base)
}

// written notes that the flusher took the first n bytes of c.out; wmu held.
func (c *client) written(n int) {
	if c.durable() != nil {
		c.durable().base += int64(n)
	}
}

// unwritten takes back n bytes that written counted but the socket did not
// take: they are back at the front of c.out (flushInline); wmu held.
func (c *client) unwritten(n int) {
	if c.durable() != nil {
		c.durable().base -= int64(n)
	}
}

// Durable is the journal telling that the batches the head barrier waited
// for when it asked are finished (journal.Waiter).
func (c *client) Durable(error) {
	c.wmu.Lock()
	c.durable().waiting = false
	c.settleLocked()
	c.end() // a flusher for what was freed, or the end of the connection (failed)
}

// settleLocked lifts the barriers whose answers may go, in order, and asks
// the journal to tell when the first that may not is committed. When its
// batches failed and its gate is not open, it and everything after it is
// dropped: the client never sees those answers and will resend; failed
// says so, and endIn ends the connection.
func (c *client) settleLocked() {
	d := c.durable()
	for len(d.held) > 0 {
		h := &d.held[0]
		if h.gate != nil && h.gate.open() {
			c.popHeld()
			continue
		}
		var finished bool
		var err error
		if d.waiting { // a notification is on its way; it settles again
			finished, err = c.b.journal.Check(h.ticket)
		} else {
			finished, err = c.b.journal.Watch(h.ticket, c)
			d.waiting = !finished
		}
		if !finished {
			return
		}
		if err != nil {
			at := int(h.at - d.base)
			c.out = c.out[:min(max(at, 0), len(c.out))] // closeWrites may have taken it all
			clear(d.held)
			d.held = d.held[:0]
			d.failed = fmt.Errorf("answers withheld: %w", err)
			return
		}
		c.popHeld()
	}
}

// takeFailure returns and clears what settleLocked found failed; wmu held.
func (c *client) takeFailure() error {
	if c.durable() == nil || c.durable().failed == nil {
		return nil
	}
	err := c.durable().failed
	c.durable().failed = nil
	return err
}

func (c *client) popHeld() {
	d := c.durable()
	d.held[0] = heldAnswer{}
	d.held = d.held[1:]
	if len(d.held) == 0 {
		d.held = nil // let the array go; the next hold starts a new one
	}
}

// settleBeforeClose waits, at most grace, for the barriers' batches, so that
// answers already given reach a client that is still there when their
// changes are durable in time. Called by closeWrites with wmu held; it lets
// go of wmu while it waits.
func (c *client) settleBeforeClose(grace time.Duration) {
	if c.durable() == nil || len(c.durable().held) == 0 {
		return
	}
	t := c.durable().held[len(c.durable().held)-1].ticket
	c.wmu.Unlock()
	c.b.journal.Wait(t, grace)
	c.wmu.Lock()
	c.settleLocked() // a failure here is the end of a connection that is ending
}

// An ackGate opens a publisher's PUBACK before the store has its message
// when every kept session that took the message has acknowledged it: a
// message its subscribers have is a message delivered, and there is nothing
// left to keep. One count is the routing itself (taken at creation, given
// back by routed), so that the gate cannot open before every session had
// its chance to take the message. Any other end of a kept delivery, a
// retained message (its value must survive) or a QoS 2 delivery keeps it
// shut for good: the PUBACK then waits for the store, as without it.
type ackGate struct {
	pending atomic.Int32
	shut    atomic.Bool
	// c is the publisher, until the gate opens or shuts: messages queued
	// for offline sessions keep their gate, and must not keep a closed
	// connection with it.
	c atomic.Pointer[client]
}

func newAckGate(c *client, shut bool) *ackGate {
	g := &ackGate{}
	g.pending.Store(1)
	g.shut.Store(shut)
	if !shut {
		g.c.Store(c)
	}
	return g
}

// Hold counts a kept delivery (session.Gate).
func (g *ackGate) Hold() { g.pending.Add(1) }

// Acked is a kept delivery's PUBACK (session.Gate).
func (g *ackGate) Acked() { g.done() }

// Dropped is a kept delivery that ended otherwise (session.Gate).
func (g *ackGate) Dropped() {
	g.shut.Store(true)
	g.c.Store(nil)
	g.pending.Add(-1)
}

// routed gives back the routing's count.
func (g *ackGate) routed() { g.done() }

func (g *ackGate) done() {
	if g.pending.Add(-1) == 0 && !g.shut.Load() {
		if c := g.c.Swap(nil); c != nil {
			c.gateOpened()
		}
	}
}

func (g *ackGate) open() bool { return g.pending.Load() == 0 && !g.shut.Load() }

// gateOpened lets the publisher's answers go that waited for the gate. It
// may come from a subscriber's reader, with that session's lock held:
// session lock, then wmu, the order SendPublish takes them in.
func (c *client) gateOpened() {
	c.wmu.Lock()
	c.settleLocked()
	c.end()
}
