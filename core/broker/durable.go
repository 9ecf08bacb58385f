package broker

import (
	"fmt"
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

// durableOut is a connection's barrier; it exists only on a broker with a
// store that is durable on return (journal.Holds).
type durableOut struct {
	mark    journal.Mark   // the journal as the packet being handled began; reader-owned
	base    int64          // stream offset of c.out[0]; under wmu
	at      int64          // stream offset of the first held byte, -1 for none; under wmu
	ticket  journal.Ticket // the batches the held bytes wait for; under wmu
	waiting bool           // a journal.Notify is pending; under wmu
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
	if c.dur != nil {
		c.dur.mark = j.Mark()
	}
	return c.dispatch(h, body)
}

// beginPacket notes the journal's state as a packet's handling begins, so
// that its answer can wait for what the handling changed (holdSince).
func (c *client) beginPacket() {
	if c.dur != nil {
		c.dur.mark = c.b.journal.Mark()
	}
}

// sinceMark returns the ticket of the changes made since beginPacket, and
// whether there were any. Reader goroutine only.
func (c *client) sinceMark() (journal.Ticket, bool) {
	if c.dur == nil {
		return journal.Ticket{}, false
	}
	return c.b.journal.Since(c.dur.mark)
}

// sendHeld queues p behind a barrier for the changes made while its packet
// was handled, if there were any.
func (c *client) sendHeld(p packets.Packet) {
	t, changed := c.sinceMark()
	if c.begin() {
		if changed {
			c.holdLocked(t)
		}
		c.out = p.Append(c.out, c.version)
	}
	c.end()
}

// holdLocked puts a barrier at the end of c.out, or widens the one there is
// to t. The caller holds wmu and appends the packet to hold next.
func (c *client) holdLocked(t journal.Ticket) {
	d := c.dur
	if d.at < 0 {
		d.at, d.ticket = d.base+int64(len(c.out)), t
	} else {
		d.ticket.From, d.ticket.To = min(d.ticket.From, t.From), max(d.ticket.To, t.To)
	}
	if !d.waiting {
		c.settleLocked()
	}
}

// writable is how much of c.out may be written now; the caller holds wmu.
func (c *client) writable() int {
	if c.dur == nil || c.dur.at < 0 {
		return len(c.out)
	}
	return int(c.dur.at - c.dur.base)
}

// written notes that the flusher took the first n bytes of c.out; wmu held.
func (c *client) written(n int) {
	if c.dur != nil {
		c.dur.base += int64(n)
	}
}

// Durable is the journal telling that the batches the barrier waited for
// when it asked are finished (journal.Waiter).
func (c *client) Durable(error) {
	c.wmu.Lock()
	c.dur.waiting = false
	failed := c.settleLocked()
	c.endIn(nil)
	if failed != nil {
		c.stopWith(&stopRequest{reason: packets.UnspecifiedError, will: true, err: failed})
	}
}

// settleLocked lifts the barrier if its batches are committed, or asks to be
// told when they are. When one failed, what the barrier held is dropped:
// the client never sees those answers and will resend; the returned error
// says so, and the caller ends the connection once it has let go of wmu.
func (c *client) settleLocked() error {
	d := c.dur
	for d.at >= 0 {
		finished, err := c.b.journal.Check(d.ticket)
		if !finished {
			if d.waiting = c.b.journal.Notify(d.ticket, c); d.waiting {
				return nil
			}
			continue // finished meanwhile
		}
		held := int(d.at - d.base)
		d.at = -1
		if err != nil {
			c.out = c.out[:min(held, len(c.out))] // closeWrites may have taken it all
			return fmt.Errorf("answers withheld: %w", err)
		}
	}
	return nil
}

// settleBeforeClose waits, at most grace, for the barrier's batches, so that
// answers already given reach a client that is still there when their
// changes are durable in time. Called by closeWrites with wmu held; it lets
// go of wmu while it waits.
func (c *client) settleBeforeClose(grace time.Duration) {
	if c.dur == nil || c.dur.at < 0 {
		return
	}
	t := c.dur.ticket
	c.wmu.Unlock()
	c.b.journal.Wait(t, grace)
	c.wmu.Lock()
	if finished, err := c.b.journal.Check(c.dur.ticket); finished && err == nil {
		c.dur.at = -1
	}
}
