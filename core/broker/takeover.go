package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// Takeover moves persistent sessions between the nodes of a cluster
// (decision 0056; cluster/takeover implements it over NATS and the
// JetStream store). A broker without one is a single node: the CONNECT path
// pays one nil test.
//
// The broker calls Acquire on a CONNECT whose client id has no session on
// this node, before it attaches one. Acquire finds the session the cluster
// holds for the client (another node's, live or dead), makes the node that
// owns it let go (Release on that node's broker: a live connection there is
// closed with 0x8E [MQTT-3.1.4-3]), claims it for this node in the store
// (fenced: one owner per client id) and returns it. With cleanStart the
// session ends instead: the owner ends it (publishing its will as a Clean
// Start on its own node would), or, when the owner is gone, Acquired.Discard
// asks this broker to delete what the store still holds. keep says
// whether the new connection's session outlives it (a session expiry): a
// session that does not is not claimed when there is none to resume.
//
// Owns is asked on a CONNECT whose client id has a session on this node:
// whether the store still gives it to this node (kept: the session is one
// the store keeps). A copy the cluster gave to another node meanwhile is
// dropped here (Forget) and the session acquired from its owner.
type Takeover interface {
	Acquire(ctx context.Context, client string, cleanStart, keep bool) (Acquired, error)
	Owns(ctx context.Context, client string, kept bool) (bool, error)
}

// Acquired is what Takeover.Acquire found for a client.
type Acquired struct {
	// Record is the session to resume here, with its deliveries, inbound
	// QoS 2 ids and pending will; nil: there is none to resume. Its messages
	// are the broker's from now on.
	Record *session.Record
	// Discard: the store still holds a session of the client that nobody
	// will resume (Clean Start on a dead owner's session), Record; the
	// broker deletes it before it stores the new one, and publishes the
	// will it was waiting to publish.
	Discard bool
	// CatchUp, when set, brings the resumed session up to date with the
	// cluster's ingest (decision 0055): it calls install at a point between
	// two messages of every ingest shard — install puts the session in the
	// router, so that every later message reaches it — and delivers each
	// message the session missed before that point through deliver, with
	// redelivered set for those it may have had (DUP).
	CatchUp func(install func() (filters []string), deliver func(m *session.Message, redelivered bool)) error
}

// ErrTakeover wraps what went wrong taking a session over from another
// node: the client is refused with Server Unavailable, and may retry.
var ErrTakeover = errors.New("session takeover from another node failed")

// acquireTimeout bounds a CONNECT's wait for another node to let go.
const acquireTimeout = 15 * time.Second

// acquire brings the cluster's session of c's client id here, when this
// node has none, before attach looks for it. Called without b.mu. When it
// installed a session for c, the caller closes arrived once c attached, or
// failed to.
func (b *Broker) acquire(c *client, cleanStart bool) (arrived chan struct{}, err error) {
	if b.noQuorum() {
		// Only a session that ends with its connection gets here without
		// a quorum (persistentNoQuorum refused the others): it is served
		// here alone, as decision 0057 promises, without the store, whose
		// leaders cannot answer. Another node's session of the client id,
		// if any, is left to its owner.
		return nil, nil
	}
	id := c.info.ID
	ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
	defer cancel()
	if e, ok := b.sessions.load(id); ok {
		b.mu.Lock()
		kept := e.Kept()
		b.mu.Unlock()
		owns, err := b.opts.Takeover.Owns(ctx, id, kept)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTakeover, err)
		}
		if owns {
			return nil, nil // a local takeover, or a resume
		}
		b.log.Warn().Str("client_id", id).Msg("session here is stale: the cluster gave it to another node; taking it from there")
		b.Forget(id)
	}
	if err := b.awaitReleased(ctx, id); err != nil {
		return nil, err
	}
	got, err := b.opts.Takeover.Acquire(ctx, id, cleanStart, b.journal != nil && c.sessionExpiry > 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	if got.Discard && b.journal != nil {
		b.journal.DeleteSession(id)
	}
	if cleanStart {
		if r := got.Record; got.Discard && r != nil && r.Will != nil {
			// The session ends now, and the will waiting for its delay
			// with it, as a Clean Start on its own node would end it.
			msg := r.Will.Msg
			b.publishWill(&pendingWill{msg: &msg, client: hooks.Client{ID: id, Authenticated: r.Owner.Authenticated, Principal: r.Owner.Principal}})
		}
		return nil, nil
	}
	if got.Record == nil {
		return nil, nil
	}
	arrived = make(chan struct{})
	if err := b.install(got.Record, got.CatchUp, arrived); err != nil {
		close(arrived)
		return nil, fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	c.logInfo().Int("inflight", len(got.Record.Inflight)).Int("queued", len(got.Record.Queued)).
		Msg("session taken over from another node")
	return arrived, nil
}

// awaitReleased waits until the last state of client's session, which
// this node let go without committing it in time (Release), is committed:
// until then the store has the session without the cut it carries, and a
// move here would catch it up from this node's committed positions,
// skipping as its own the messages this node accepted after it let the
// session go and never routed to it (TestFaultKill9 seed
// 1796090657374635515: s3, let go and taken back by the same node, lost a
// message accepted between the two).
func (b *Broker) awaitReleased(ctx context.Context, client string) error {
	b.mu.Lock()
	t, ok := b.released[client]
	b.mu.Unlock()
	if !ok {
		return nil
	}
	if !b.journal.Wait(t, timeLeft(ctx)) {
		if finished, _ := b.journal.Check(t); !finished {
			return fmt.Errorf("%w: the session's last state here, let go to another node, is not committed yet", ErrTakeover)
		}
		// Given up (the journal's error is logged): there is nothing more
		// to wait for, and the store has what it has.
	}
	b.mu.Lock()
	if b.released[client] == t {
		delete(b.released, client)
	}
	b.mu.Unlock()
	return nil
}

// Adopt installs rec, the session of a node that died, as an offline
// session of this node (decision 0056): stored here, its subscriptions
// routing, its expiry and will timers running, and brought up to date by
// catchUp (nil: nothing to catch up). It reports false when this node
// already has a session of that client id (a client reconnected here
// first): that one wins and rec is dropped.
func (b *Broker) Adopt(rec *session.Record, catchUp func(install func() []string, deliver func(*session.Message, bool)) error) (bool, error) {
	if _, ok := b.sessions.load(rec.ID); ok {
		return false, nil
	}
	if err := b.install(rec, catchUp, nil); err != nil {
		return false, err
	}
	b.log.Info().Str("client_id", rec.ID).Int("inflight", len(rec.Inflight)).Int("queued", len(rec.Queued)).
		Msg("session adopted from a node that left the cluster")
	return true, nil
}

// install makes rec an offline session of this broker, stored under this
// node's keys (journal.Adopt), at the point catchUp chooses. arriving, when
// a CONNECT is to attach to it, is closed by that CONNECT (offlineState).
func (b *Broker) install(rec *session.Record, catchUp func(install func() []string, deliver func(*session.Message, bool)) error, arriving chan struct{}) error {
	if rec.Version != session.FormatVersion {
		return fmt.Errorf("session %q has format version %d, this broker reads %d: %w",
			rec.ID, rec.Version, session.FormatVersion, session.ErrUnknownVersion)
	}
	var installed bool
	put := func() []string {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.sessions.load(rec.ID); ok || b.closing {
			return nil
		}
		if b.journal != nil {
			b.journal.Adopt(rec)
		}
		offline := rec.DisconnectedAt
		if offline == 0 {
			offline = time.Now().UnixNano() // it was connected when its node let go or died
		}
		left := time.Duration(rec.Expiry)*time.Second - time.Duration(time.Now().UnixNano()-offline)
		e := b.installOffline(*rec, offline, max(left, time.Millisecond))
		e.off.arriving = arriving
		installed = true
		filters := make([]string, len(rec.Subscriptions))
		for i, s := range rec.Subscriptions {
			filters[i] = s.Filter
		}
		return filters
	}
	if catchUp == nil {
		put()
		return nil
	}
	// On a cluster node this node's own messages accepted just before the
	// session arrived were routed here without it and are past this node's
	// positions, so the catch-up's range does not hold them and the
	// consumers will skip them as this node's own: the session gets them
	// from PendingOwn, taken at install (consumers paused, no publish
	// between its routing and its Forward) and delivered after the range,
	// before any later publish of this node routes (moving held until
	// then): one publisher's order. moving is taken inside install, after
	// catchUp paused the consumers: the order Release takes them in too
	// (consumers, then moving). The other order deadlocks with a consumer
	// routing a retained message, which waits for its topic's lock, held
	// by a publisher waiting for moving.
	var unread []*session.Message
	var held bool
	defer func() {
		if held {
			b.moving.Unlock()
		}
	}()
	err := catchUp(func() []string {
		if b.ingest != nil {
			b.moving.Lock()
			held = true
		}
		filters := put()
		if installed && b.ingest != nil {
			unread = b.ingest.PendingOwn()
		}
		return filters
	}, func(m *session.Message, redelivered bool) {
		if installed {
			b.deliverTo(rec.ID, m, redelivered)
		}
	})
	for _, m := range unread {
		b.deliverTo(rec.ID, m, false)
	}
	b.caughtUp(rec, installed && err == nil)
	return err
}

// caughtUp stores rec's session again without the positions it carried
// (Record.Carried), once its catch-up delivered it everything (done): the
// journal commits in order, so the store drops them only once the range's
// deliveries are committed too. Until then a node that takes the session
// from the store catches up from them.
func (b *Broker) caughtUp(rec *session.Record, done bool) {
	if !done || rec.Carried == nil || b.journal == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.sessions.load(rec.ID); ok {
		b.saveSession(e, e.pendingWill())
	}
}

// installOffline makes rec an offline session that went offline at offline
// (Unix ns) and ends after left: in the sessions and the router, with its
// expiry timer and its will's. b.mu is held.
func (b *Broker) installOffline(rec session.Record, offline int64, left time.Duration) *entry {
	e := &entry{off: &offlineState{since: offline}}
	e.InitRestored(rec, b.sessionLimits())
	for _, sub := range rec.Subscriptions {
		b.router.Subscribe(routerSubscription(e.ID, sub))
	}
	b.sessions.store(rec.ID, e)
	e.off.expiry = time.AfterFunc(left, func() { b.expire(e) })
	if rec.Will != nil {
		msg := rec.Will.Msg
		// [MQTT-3.1.3-9] the rest of the Will Delay Interval, not zero:
		// the client may still come back in time.
		pw := &pendingWill{msg: &msg, client: hooks.Client{ID: rec.ID, Authenticated: rec.Owner.Authenticated, Principal: rec.Owner.Principal}, due: time.Unix(0, rec.Will.PublishAt)}
		pw.timer = time.AfterFunc(max(time.Until(pw.due), 0), func() { b.fireWill(e, pw) })
		e.off.will = pw
	}
	return e
}

// deliverTo offers m, a message the session of client missed while it
// moved, to that session alone, as its subscriptions match it. A message it
// may have had already goes with DUP set [MQTT-3.3.1-1].
func (b *Broker) deliverTo(client string, m *session.Message, redelivered bool) {
	ms := matchesPool.Get().(*topics.Matches)
	defer func() { ms.Reset(); matchesPool.Put(ms) }()
	b.router.Match(m.Topic, ms)
	var subs []topics.Subscription
	for _, s := range ms.Subs {
		if s.Client == client {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return
	}
	d, ok := merge(m, subs)
	if !ok {
		return
	}
	d.Dup = redelivered
	b.offerTo(client, d, m, time.Now().UnixNano(), nil)
}

// Release lets go of the session of client because another node takes it
// over (decision 0056): a live connection is closed with 0x8E Session taken
// over [MQTT-3.1.4-3] (its will goes as on a local takeover), and the
// session's last state is committed before Release returns, so that the
// new owner reads it whole. With end, the session ends here as on a Clean
// Start (its will is published and the store's copy deleted); otherwise
// this node forgets it without touching the store: it is the new owner's.
// It reports whether this node had the session.
//
// cut, when set (and not with end), is called at the exact point the
// session leaves: with the ingest's consumers paused and no clustered
// publish between its routing here and its Forward, just after the session
// left the router. Every message routed to it came before that point,
// none after, so the positions and own-message counter read in cut are
// the exact start of the new owner's catch-up: read before, a message
// routed in between would reach the session twice (here and in the range);
// read after the pause, one routed in between would be lost to it. What
// cut returns (nil: nothing) is stored with the session's last state as
// the positions it carries (session.Record.Carried), until the node that
// takes it has caught it up.
func (b *Broker) Release(ctx context.Context, client string, end bool, cut func() []byte) (bool, error) {
	e, ok := b.sessions.load(client)
	if !ok {
		return false, nil
	}
	b.mu.Lock()
	c := e.client
	var arriving chan struct{}
	if c == nil && e.off != nil {
		arriving = e.off.arriving
	}
	b.mu.Unlock()
	if arriving != nil {
		// Taken over here a moment ago, its connection not attached yet:
		// forgetting the entry now would leave that connection a fresh
		// session on this node while the asking node resumes the old one.
		if b.releaseWaits != nil {
			b.releaseWaits()
		}
		select {
		case <-arriving:
		case <-ctx.Done():
			return true, fmt.Errorf("release %q: the connection taking it over here did not attach: %w", client, ctx.Err())
		}
		b.mu.Lock()
		c = e.client
		b.mu.Unlock()
	}
	if c != nil {
		c.logInfo().Bool("end", end).Msg("session taken over by another node")
		c.kick(packets.SessionTakenOver, true)
		select {
		case <-c.doneCh():
		case <-ctx.Done():
			return true, fmt.Errorf("release %q: the connection did not close: %w", client, ctx.Err())
		}
	}
	if end || cut == nil {
		// An ended session is deleted, not moved: there is no range to
		// cut (and its will is published, which takes moving).
		b.forget(e, end)
	} else {
		b.leaveAt(e, cut)
	}
	if b.journal == nil {
		return true, nil
	}
	if t := b.journal.Latest(); !b.journal.Wait(t, timeLeft(ctx)) {
		b.mu.Lock()
		if b.released == nil {
			b.released = map[string]journal.Ticket{}
		}
		// Those committed since go: a client that never comes back here
		// would otherwise keep its entry for good.
		maps.DeleteFunc(b.released, func(_ string, t journal.Ticket) bool {
			finished, _ := b.journal.Check(t)
			return finished
		})
		b.released[client] = t
		b.mu.Unlock()
		return true, fmt.Errorf("release %q: the session's last state was not committed in time", client)
	}
	if _, err := b.journal.Check(b.journal.Latest()); err != nil {
		return true, fmt.Errorf("release %q: commit of the session's last state: %w", client, err)
	}
	return true, nil
}

// leaveAt forgets e, handed to another node, at one point of the ingest
// and of this node's publishes, and calls cut there (Release).
func (b *Broker) leaveAt(e *entry, cut func() []byte) {
	if b.ingest != nil {
		defer b.ingest.Pause()() // first, as install takes them: consumers, then moving
		b.moving.Lock()
		defer b.moving.Unlock()
	}
	b.mu.Lock()
	kept := e.Kept()
	rec := sessionRecord(e, e.pendingWill())
	b.mu.Unlock()
	left := b.forget(e, false)
	carried := cut()
	if left && carried != nil && b.journal != nil && kept {
		// The session's last state carries the cut (Record.Carried): if
		// the node taking it fails before its claim, the session stays
		// in the store under this node, which routes no more to it, and
		// whoever takes it next — this node too, after a restart —
		// catches up from the cut, not from where this node went on.
		rec.Carried = carried
		b.journal.PutSession(&rec)
	}
}

// Forget drops the session of client from this node without touching the
// store, whose copy another node owns now: what a node does when the store
// tells it that it lost the client (fencing, decision 0056). A live
// connection is closed with 0x8E Session taken over.
func (b *Broker) Forget(client string) {
	e, ok := b.sessions.load(client)
	if !ok {
		return
	}
	e.Disown() // before the kick: its last changes are not this node's to write
	b.mu.Lock()
	c := e.client
	b.mu.Unlock()
	if c != nil {
		c.kick(packets.SessionTakenOver, false)
		<-c.doneCh()
	}
	b.forget(e, false)
	b.log.Warn().Str("client_id", client).Msg("session owned by another node now: dropped here")
}

// KeptIDs lists the client ids of the sessions this broker holds that the
// store keeps (a session expiry): what a cluster node checks against the
// store once it answers the other nodes (cluster/takeover's sweep).
func (b *Broker) KeptIDs() []string {
	var ids []string
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions.each(func(e *entry) bool {
		if e.Kept() {
			ids = append(ids, e.ID)
		}
		return true
	})
	return ids
}

// forget removes e from this broker once its connection is gone: ended
// (end) or handed to another node. It reports false when e was gone
// meanwhile or a client reconnected to it here.
func (b *Broker) forget(e *entry, end bool) bool {
	b.mu.Lock()
	if cur, _ := b.sessions.load(e.ID); cur != e || e.client != nil {
		b.mu.Unlock()
		return false // gone meanwhile, or a client reconnected here first
	}
	will := e.pendingWill()
	if o := e.off; o != nil {
		if o.expiry != nil {
			o.expiry.Stop()
		}
		if will != nil {
			will.timer.Stop()
			o.will = nil
		}
	}
	if end {
		ended := b.dropSession(e)
		b.mu.Unlock()
		ended.handOver(b)
		if will != nil {
			b.publishWill(will) // the session ends now, and its will with it
		}
		return true
	}
	// The will, queue and in-flight messages go with the record to the new
	// owner: shared deliveries are not handed to other members here.
	e.Disown()
	b.router.UnsubscribeAll(e.ID)
	b.sessions.compareAndDelete(e.ID, e)
	e.End()
	b.mu.Unlock()
	return true
}

// timeLeft is what remains of ctx's deadline, a minute without one.
func timeLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), 0)
	}
	return time.Minute
}
