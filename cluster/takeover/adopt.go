package takeover

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// Adoption (decision 0056): when membership has shown a node down for
// AdoptAfter, one survivor — the node up with the highest rendezvous score
// for the dead node's name, so that every survivor picks the same one
// without talking — claims each of its sessions and installs it offline:
// its subscriptions route again, messages published meanwhile are queued,
// its will waits out its delay here. A client that reconnected elsewhere
// first wins (the claim is fenced). A node that comes back before
// AdoptAfter keeps its sessions.

// watchInterval is how often membership is looked at.
const watchInterval = time.Second

// watch adopts the sessions of nodes that stay down, until Close.
func (m *Mover) watch() {
	defer m.wg.Done()
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	downSince := map[string]time.Time{}
	adopted := map[string]bool{}
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
		var up []string
		now := time.Now()
		for _, mem := range m.cfg.Members.Members() {
			switch {
			case mem.Up:
				up = append(up, mem.Name)
				delete(downSince, mem.Name)
				delete(adopted, mem.Name)
			case downSince[mem.Name].IsZero():
				downSince[mem.Name] = now
			}
		}
		for dead, since := range downSince {
			if adopted[dead] || now.Sub(since) < m.cfg.AdoptAfter || adopter(dead, up) != m.cfg.Node {
				continue
			}
			adopted[dead] = true
			n, err := m.AdoptNode(context.Background(), dead)
			ev := m.cfg.Log.Info()
			if err != nil {
				ev = m.cfg.Log.Error().Err(err)
				adopted[dead] = false // try again on the next tick
			}
			ev.Str("dead_node", dead).Int("sessions", n).Msg("takeover: sessions of a node that left adopted")
		}
	}
}

// adopter is the node of up that adopts dead's sessions: the highest
// rendezvous score, "" when none is up.
func adopter(dead string, up []string) string {
	best, bestScore := "", uint64(0)
	for _, n := range up {
		h := fnv.New64a()
		_, _ = h.Write([]byte(dead + "\x00" + n))
		if s := h.Sum64(); best == "" || s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// AdoptNode claims and installs every session dead still owns, and returns
// how many this node took. Sessions claimed by another node meanwhile are
// left to it.
func (m *Mover) AdoptNode(ctx context.Context, dead string) (int, error) {
	if err := m.cfg.Store.FinishCommitsOf(ctx, dead); err != nil {
		return 0, err
	}
	ids, err := m.cfg.Store.Owned(ctx, dead)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	from, err := m.cfg.Ingest.PositionsOf(ctx, dead)
	if err != nil {
		return 0, err
	}
	if from.Shards != nil {
		if from, err = m.cfg.Ingest.AwaitPositions(ctx, from); err != nil {
			return 0, fmt.Errorf("route up to %q's positions: %w", dead, err)
		}
	}
	// Copies held here before the fetches below: one of them that the
	// store still gives to dead is stale (this node loaded it before dead
	// took it, and its sweep has not dropped it yet). Kept, it would win
	// over the state claimed below (Adopt leaves a session here in place)
	// and be resumed under the claim, without what dead queued since.
	here := make(map[string]bool)
	for _, id := range m.b.KeptIDs() {
		here[id] = true
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if m.knownUp(dead) {
			// Back meanwhile: like a node back before AdoptAfter, it keeps
			// the rest, which its new process may have loaded and be
			// routing its own messages into (ask).
			break
		}
		h, err := m.cfg.Store.Fetch(ctx, id)
		if errors.Is(err, ErrNoSession) || err == nil && h.Node != dead {
			continue // ended, or a client took it elsewhere
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if here[id] {
			m.b.Forget(id)
		}
		sfrom := from
		if h.Record.Carried != nil {
			// dead claimed it and died before its catch-up was committed:
			// the session is where the positions it carries say.
			if sfrom, err = m.startOf(ctx, &h.Record, dead); err == nil && sfrom.Shards != nil {
				sfrom, err = m.cfg.Ingest.AwaitPositions(ctx, sfrom)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
		}
		carried, err := carry(sfrom)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := m.cfg.Store.Claim(ctx, id, h.Revision, carried); errors.Is(err, ErrFenced) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		rec := h.Record
		rec.Carried = carried // kept in the store until the catch-up is committed
		// Unplaced until installed, as a session Acquire claims: if its
		// catch-up fails, the store names this node its owner while its
		// state and positions are still dead's, and whoever takes it next
		// must start from those (unplaced.go).
		ok, err := m.b.Adopt(&rec, m.claimed(ctx, id, sfrom))
		if err != nil {
			errs = append(errs, err)
		} else if !ok {
			m.unplaced.take(id) // a session of the client was here first: it stays
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}
