package broker

import (
	"fmt"
	"time"

	"github.com/plumemq/plume/core/session"
)

// Settings a running broker takes anew (a configuration reload; see
// docs/decisions/0034-reload.md). They live in one immutable value behind an
// atomic pointer: a setter copies it, changes the copy and swaps it in, so a
// reader pays one atomic load and never sees half a change.
//
// When a new value takes effect:
//
//   - Limits a connection negotiates or announces in CONNACK are read once, at
//     the accept, and kept for the connection's life (client.lim): what the
//     client was told stays true. These are max_packet_size, max_inflight,
//     max_keep_alive, max_session_expiry, topic_alias_maximum,
//     outbound_topic_aliases, max_client_id_length, connect_timeout,
//     max_connect_size, max_qos and retain_available: new connections only.
//   - max_queued and max_queued_bytes are each session's, fixed when the
//     session is made: new sessions only (a resumed session keeps its own).
//   - The rest apply at once to every connection: max_topic_length,
//     max_topic_levels, max_subscriptions (new subscriptions; ones held stay),
//     max_write_buffer, write_timeout, packet_read_timeout,
//     drain_after_disconnect, slow_consumer_timeout, queue_full,
//     max_connections (new accepts; none is closed), max_partial_packet_bytes
//     and max_queued_bytes_total (bytes already held stay held).
//   - Admission rules (allow_anonymous, listener policies) and
//     session_owner_mismatch are read at each CONNECT: new connections.
type live struct {
	limits        Limits
	listeners     map[string]ListenerPolicy
	anonymous     bool
	ownerMismatch OwnerMismatch
	// sess is what new sessions are held to, one copy for all of them.
	sess *session.Limits
}

// limits are the limits in force now, defaults filled in. Callers must not
// modify them.
func (b *Broker) limits() *Limits { return &b.live.Load().limits }

// Limits returns the limits in force now, defaults filled in.
func (b *Broker) Limits() Limits { return b.live.Load().limits }

// setLive swaps in a copy of the live settings changed by change, under
// liveMu so that two setters cannot lose each other's change.
func (b *Broker) setLive(change func(*live)) {
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	next := *b.live.Load()
	change(&next)
	b.live.Store(&next)
}

// SetLimits replaces the broker's limits (zero fields mean the default, as in
// Options). The package comment of live.go says which apply to connections
// already open and which to new connections or sessions only. An invalid set
// changes nothing.
func (b *Broker) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if l.BackpressureMaxWait == 0 { // not in the file: keep what code set
		l.BackpressureMaxWait = b.limits().BackpressureMaxWait
	}
	l = Options{Limits: l}.Defaults().Limits
	b.setLive(func(v *live) {
		if l.MaxQueued != v.limits.MaxQueued || l.MaxQueuedBytes != v.limits.MaxQueuedBytes {
			v.sess = newSessionLimits(l, b.budget, b.journal)
		}
		v.limits = l
		b.partials.SetLimit(int64(l.MaxPartialPacketBytes))
		b.budget.SetLimit(int64(max(l.MaxQueuedBytesTotal, 0)))
	})
	return nil
}

// SetAdmission replaces what each listener admits (Options.Listeners) and the
// rule for listeners not named (Options.AllowAnonymous). Connections already
// open stay; the next CONNECT on each listener meets the new rules. A
// listener's MaxConnections counts the connections it has open, so lowering
// it refuses new ones until enough have left.
func (b *Broker) SetAdmission(allowAnonymous bool, listeners map[string]ListenerPolicy) {
	m := make(map[string]ListenerPolicy, len(listeners))
	for k, p := range listeners {
		m[k] = p
	}
	b.setLive(func(v *live) { v.anonymous, v.listeners = allowAnonymous, m })
}

// SetSessionOwnerMismatch replaces Options.SessionOwnerMismatch for the
// CONNECTs that follow.
func (b *Broker) SetSessionOwnerMismatch(m OwnerMismatch) error {
	o := Options{SessionOwnerMismatch: m}
	if err := o.Validate(); err != nil {
		return err
	}
	b.setLive(func(v *live) { v.ownerMismatch = m })
	return nil
}

// SetSysInterval changes how often $SYS topics are published (0 = the
// default, negative = never). A positive interval publishes them at once and
// then every d.
func (b *Broker) SetSysInterval(d time.Duration) {
	if d == 0 {
		d = Options{}.Defaults().SysInterval
	}
	b.mu.Lock()
	if b.closing || !b.sysStarted && d < 0 {
		b.mu.Unlock()
		return
	}
	if !b.sysStarted { // $SYS was off: no loop to tell yet
		b.sysStarted = true
		b.wg.Add(1) // under mu, where Shutdown sets closing before it waits
		b.mu.Unlock()
		go b.sysLoop(d)
		return
	}
	b.mu.Unlock()
	select {
	case b.sysEvery <- d:
	case <-b.sysStop: // shut down: nothing publishes any more
	}
}
