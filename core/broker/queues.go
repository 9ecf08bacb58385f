package broker

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// What a broker lets sessions hold, and what happens past it (decision 0013):
// each session holds at most Limits.MaxQueued messages behind its window and
// Limits.MaxQueuedBytes bytes in flight and queued; all sessions together
// hold at most Limits.MaxQueuedBytesTotal. Past any of them the newest
// message is dropped, counted (Stats, $SYS) and logged through dropLog. A
// connection that sheds QoS 0 for longer than Limits.SlowConsumerTimeout
// without catching up is disconnected.

// dropLogInterval is how often a session's drops may be logged; the lines in
// between are counted and carried by the next one (core/ratelog).
const dropLogInterval = 10 * time.Second

// sessionLimits are the limits every session of b is made with.
// They are made once, in New, and shared: a session keeps a pointer.
func (b *Broker) sessionLimits() *session.Limits { return b.live.Load().sess }

func newSessionLimits(l Limits, budget *budget.Bytes, j *journal.Journal) *session.Limits {
	sl := &session.Limits{MaxQueued: l.MaxQueued, MaxBytes: int64(max(l.MaxQueuedBytes, 0)), Budget: budget}
	if j != nil { // a nil *Journal in the interface would not be nil
		sl.Journal = j
	}
	return sl
}

// noteDrop counts a delivery that e's session did not take and logs it,
// rate-limited per session.
func (b *Broker) noteDrop(e *entry, qos byte, o session.Outcome) {
	b.stats.dropped.Add(1)
	switch o {
	case session.DropQueueFull:
		b.stats.droppedQueueFull.Add(1)
	case session.DropQueueBytes:
		b.stats.droppedQueueBytes.Add(1)
	case session.DropBudget:
		b.stats.droppedBudget.Add(1)
	default:
		b.stats.droppedQoS0.Add(1)
	}
	ev := b.dropLog.Log(&b.log, zerolog.WarnLevel, e.ID)
	if ev == nil {
		return
	}
	b.mu.Lock()
	c := e.client
	b.mu.Unlock()
	ev = ev.Str("client_id", e.ID)
	if c != nil {
		ev = ev.Str("remote", c.info.RemoteAddr)
	}
	st := e.Stats()
	ev.Uint8("qos", qos).Str("cause", o.String()).Int("queued", st.Queued).Int64("queued_bytes", st.Bytes).
		Uint64("session_dropped", st.Dropped).Msg("message dropped")
}

// reportDrops writes the count of drop lines that dropLog held back when no
// later drop of the session came to carry it.
func (b *Broker) reportDrops(clientID string, suppressed uint64) {
	b.log.Warn().Str("client_id", clientID).Uint64("suppressed", suppressed).Msg("message drops not logged")
}

// SessionStats returns the counters of clientID's session: messages and
// bytes held, and deliveries dropped. False if there is no such session.
func (b *Broker) SessionStats(clientID string) (session.Stats, bool) {
	e, ok := b.sessions.load(clientID)
	if !ok {
		return session.Stats{}, false
	}
	return e.Stats(), true
}

// shedQoS0 notes that a QoS 0 delivery was shed because the write buffer is
// over MaxWriteBuffer, and reports whether the connection is now a slow
// consumer to disconnect: it has been shedding for longer than
// SlowConsumerTimeout and has not caught up (emptied its buffer) since it
// began. It reports true once per connection. The caller holds wmu.
func (c *client) shedQoS0() bool {
	limit := c.b.limits().SlowConsumerTimeout
	if limit < 0 || c.slowKicked {
		return false
	}
	now := time.Now().UnixNano()
	if c.shedSince == 0 {
		c.shedSince = now
		return false
	}
	if time.Duration(now-c.shedSince) <= limit {
		return false
	}
	c.slowKicked = true
	return true
}

// caughtUp forgets a shedding episode: the connection had nothing left to
// write when a new delivery came. The caller holds wmu.
func (c *client) caughtUp() {
	if !c.flushing {
		c.shedSince = 0
	}
}

// dropSlowConsumer ends a connection that has shed QoS 0 for too long,
// through the connection's usual end: the reader sends DISCONNECT 0x97
// (5.0), publishes the will and detaches the session. The caller holds no
// write lock.
func (c *client) dropSlowConsumer() {
	c.b.stats.slowConsumers.Add(1)
	c.wmu.Lock()
	pending, since := len(c.out), time.Duration(time.Now().UnixNano()-c.shedSince)
	c.wmu.Unlock()
	c.logInfo().Int("pending_bytes", pending).Dur("shedding_for_ms", since).
		Msg("slow consumer disconnected: its write buffer stayed full")
	c.kick(packets.QuotaExceeded, true)
}
