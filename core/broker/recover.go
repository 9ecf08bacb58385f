package broker

import (
	"fmt"
	"time"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/session"
)

// openStore loads what opts.Store holds and starts the journal that keeps it
// up to date. Without a store, the broker keeps everything in memory.
func (b *Broker) openStore() error {
	if b.opts.Store == nil {
		return nil
	}
	start := time.Now()
	snap, err := b.opts.Store.Load()
	if err != nil {
		return fmt.Errorf("load session store: %w", err)
	}
	for _, rec := range snap.Sessions {
		// A record this broker cannot read must not be guessed at nor dropped
		// (session.Store, "Versions"): refuse to start and leave it stored.
		if rec.Version != session.FormatVersion {
			return fmt.Errorf("load session store: session %q has format version %d, this broker reads %d: %w",
				rec.ID, rec.Version, session.FormatVersion, session.ErrUnknownVersion)
		}
	}
	b.journal = journal.New(b.opts.Store, &snap, b.log)
	b.positions = snap.Positions
	if in, ok := b.fabric.(Ingest); ok && in.Forwards() {
		b.ingest = in // a fabric with a store forwards through it (ingest.go)
	}
	// Sessions reach the journal through their limits (session.Limits.Journal).
	b.setLive(func(v *live) { v.sess = newSessionLimits(v.limits, b.budget, b.journal) })
	got := b.restore(snap)
	b.log.Info().Int("sessions", got.sessions).Int("expired_sessions", got.expired).
		Int("messages", got.deliveries).Int("inbound_qos2", got.inbound).Int("retained", got.retained).
		Dur("took_ms", time.Since(start)).Msg("recovered session store")
	return nil
}

// recovered counts what restore brought back, for the log.
type recovered struct{ sessions, expired, deliveries, inbound, retained int }

// restore rebuilds sessions and retained messages from what the store held.
// What expired while the broker was down is deleted, not restored
// [MQTT-4.1.0-2] [MQTT-3.3.2-5]. A session whose record says it was still
// connected (the broker stopped without saving its end: a crash) counts
// its expiry from now, and every delivery it holds is resent with DUP set:
// whether it reached the client before the crash is unknown.
func (b *Broker) restore(snap session.Snapshot) recovered {
	var got recovered
	now := time.Now()
	for i := range snap.Retained {
		m := &snap.Retained[i]
		if m.Expired(now.UnixNano()) {
			b.journal.DeleteRetained(m.Topic)
			continue
		}
		b.retained.Set(m.Topic, m)
		got.retained++
	}
	for _, rec := range snap.Sessions {
		offline := rec.DisconnectedAt
		crashed := offline == 0
		if crashed {
			offline = now.UnixNano()
		}
		left := time.Duration(rec.Expiry)*time.Second - time.Duration(now.UnixNano()-offline)
		if left <= 0 {
			// Its messages are left to the store: no delivery refers to
			// them any more, so the next Load drops them.
			b.journal.DeleteSession(rec.ID)
			got.expired++
			continue
		}
		if crashed {
			for _, ds := range [][]session.Delivery{rec.Inflight, rec.Queued} {
				for i := range ds {
					ds[i].Dup = true
				}
			}
		}
		got.sessions++
		got.deliveries += len(rec.Inflight) + len(rec.Queued)
		got.inbound += len(rec.InboundQoS2)
		b.mu.Lock()
		e := b.installOffline(rec, offline, left)
		if crashed {
			b.saveSession(e, e.off.will) // when it went offline, for the next restart
		}
		b.mu.Unlock()
	}
	return got
}
