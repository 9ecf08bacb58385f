package broker

import (
	"fmt"
	"time"

	"github.com/plumemq/plume/core/session"
)

// Backpressure (limits.queue_full: backpressure; docs/decisions/0012): a
// publisher whose message finds a subscriber's session over MaxQueued or
// MaxQueuedBytes has it taken anyway, past the soft limit up to twice it, and
// its reader reads nothing more until every session it overfilled is back
// under its limits or Limits.BackpressureMaxWait has passed. Unread packets
// stay in the socket, so TCP's own flow control slows the client.
//
// What keeps it from deadlocking:
//   - A publisher never waits on its own session (its acknowledgements would
//     come through the reader that waits): its messages to itself drop as in
//     drop mode.
//   - The wait is bounded. Two clients publishing to each other, each waiting
//     for the other's reader, are released by the bound; the sessions they gave
//     up on then drop instead of overfilling until they drain (session.GiveUp),
//     so a stalled subscriber costs one wait per episode, not one per message.
//   - The waiter holds no lock: other publishers and subscribers go on.
//   - Only a reader waits. Wills, $SYS, hand-overs and retained messages sent
//     on subscribe have no reader to slow and are offered as in drop mode.
//   - Offline sessions, and the broker-wide budget, are never overfilled: no
//     one would drain them within the wait, and one stalled session must not
//     stop every publisher.

// QueueFullPolicy is what a publisher's message does to a subscriber's
// session that is over its queue limits.
type QueueFullPolicy uint8

// The policies.
const (
	// QueueFullDrop drops the message for that session and counts it; the
	// publisher is acknowledged and goes on (decision 0013).
	QueueFullDrop QueueFullPolicy = iota
	// QueueFullBackpressure takes the message past the limit (up to twice
	// it) and stops reading the publisher until the session has room again,
	// for at most Limits.BackpressureMaxWait.
	QueueFullBackpressure
)

// ParseQueueFullPolicy reads a policy's name: "drop" or "backpressure".
func ParseQueueFullPolicy(s string) (QueueFullPolicy, error) {
	switch s {
	case "drop":
		return QueueFullDrop, nil
	case "backpressure":
		return QueueFullBackpressure, nil
	}
	return QueueFullDrop, fmt.Errorf("unknown queue-full policy %q: want drop or backpressure", s)
}

// UnmarshalText reads the policy from a config file (encoding.TextUnmarshaler).
func (p *QueueFullPolicy) UnmarshalText(b []byte) error {
	v, err := ParseQueueFullPolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func (p QueueFullPolicy) String() string {
	if p == QueueFullBackpressure {
		return "backpressure"
	}
	return "drop"
}

// offer offers d, a copy of m, to e's session. A publisher's reader (batch is
// its flushBatch) in backpressure mode may overfill a session other than its
// own; the session is then noted for the reader to wait on.
func (b *Broker) offer(e *entry, d session.Delivery, m *session.Message, now int64, batch session.Batch) session.Outcome {
	fb, reader := batch.(*flushBatch)
	if !reader || b.limits().QueueFull != QueueFullBackpressure || e.ID == m.Publisher {
		return e.Offer(d, now, batch)
	}
	o := e.OfferOver(d, now, batch)
	if o == session.AcceptedOver {
		fb.over = append(fb.over, e)
	}
	return o
}

// awaitRoom holds the reader until every session its publishes overfilled is
// back under its limits, BackpressureMaxWait has passed, or the connection is
// asked to stop. It is woken by the sessions (acknowledgements and draining
// close their Room channel), not by polling, and holds no lock while it waits.
// It returns how long it waited, which does not count against the client's
// keep-alive: the broker, not the client, was silent.
func (c *client) awaitRoom() time.Duration {
	over := c.batch.over
	// What the publishes queued for the subscribers must reach them before
	// they can acknowledge it.
	c.batch.flush()
	c.b.stats.bpWaits.Add(1)
	start := time.Now()
	timer := time.NewTimer(c.b.limits().BackpressureMaxWait)
	defer timer.Stop()
	stop := c.stopSignal()
	timedOut := false
wait:
	for _, e := range over {
		if timedOut {
			c.giveUp(e)
			continue
		}
		select {
		case <-e.Room():
		case <-stop:
			break wait // the connection ends; nothing to give up on
		case <-timer.C:
			timedOut = true
			c.giveUp(e)
		}
	}
	clear(c.batch.over)
	c.batch.over = c.batch.over[:0]
	return time.Since(start)
}

// giveUp stops waiting for e, and counts it if it was still over its limits.
func (c *client) giveUp(e *entry) {
	if e.GiveUp() {
		c.b.stats.bpTimeouts.Add(1)
	}
}

// stopSignal returns a channel that stopWith closes, made on the first wait
// so that a connection that never waits does not pay for it.
func (c *client) stopSignal() <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := c.waits()
	if w.stopped == nil {
		w.stopped = make(chan struct{})
		if c.stop.Load() != nil {
			close(w.stopped) // stopWith came first and found no channel
		}
	}
	return w.stopped
}

// wakeWaiter closes the channel of stopSignal, if one was made, after a stop
// request was recorded.
func (c *client) wakeWaiter() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w := c.wcond; w != nil && w.stopped != nil {
		select {
		case <-w.stopped:
		default:
			close(w.stopped)
		}
	}
}
