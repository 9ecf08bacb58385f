package takeover

import (
	"context"
	"time"
)

// A node that restarts loads the sessions the store names it the owner
// of, and answers let-go requests only once Start has subscribed. A node
// whose client reconnected there in between found nobody to ask and took
// the session from the store: the copy loaded here is stale. It would
// route into its own queue, fire its will when its delay ran out, and end
// the session at its expiry, all for a session another node serves. A
// CONNECT here finds it out (Owns), a write of its record is refused
// (fencing); the sweep finds the copies nobody touches. It runs when Start
// has subscribed, and once more when every claim begun before that has
// had the time a CONNECT gives it.

// sweepAgain is the broker's acquire timeout: a claim that found nobody to
// ask before Start has landed or failed by then.
const sweepAgain = 15 * time.Second

// sweep drops the sessions here that the store gives to another node.
func (m *Mover) sweep() {
	defer m.wg.Done()
	for _, wait := range []time.Duration{0, sweepAgain} {
		select {
		case <-m.quit:
			return
		case <-time.After(wait):
		}
		// The sessions here first: one installed after this read was
		// claimed here, and is this node's whatever Owned read before.
		here := m.b.KeptIDs()
		if len(here) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*m.cfg.AskTimeout)
		owned, err := m.cfg.Store.Owned(ctx, m.cfg.Node)
		if err != nil {
			cancel()
			m.cfg.Log.Warn().Err(err).Msg("takeover: sessions owned here not read; stale copies stay until a CONNECT or a write finds them")
			continue
		}
		mine := make(map[string]bool, len(owned))
		for _, id := range owned {
			mine[id] = true
		}
		for _, id := range here {
			if mine[id] {
				continue
			}
			// Owned left out sessions claimed and not yet written too:
			// the record's owner decides.
			if owns, err := m.Owns(ctx, id, true); err != nil || owns {
				continue
			}
			m.b.Forget(id)
			m.cfg.Log.Warn().Str("client_id", id).Msg("takeover: a copy of a session another node took was dropped here")
		}
		cancel()
	}
}
