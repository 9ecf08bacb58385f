package takeover

import (
	"context"
	"sync"
)

// unplaced holds the sessions this node claimed in the store but never
// installed — the catch-up failed before the install (no JetStream answer,
// this node's consumers behind): the store names this node their owner,
// their state is still the old owner's, and so are the positions it
// carries. Whoever takes such a session next — a retry here, or another
// node asking this one to let go — starts its catch-up from those, not from
// this node's positions, which it never had (TestFaultKill9 seed
// 1796056886957813969: a session claimed by n2 whose catch-up failed was
// then taken back by n3 from n2's positions, skipping n2's messages and
// giving it n3's own a second time, QoS 2 included).
//
// A claimed session whose catch-up is still running is not unplaced yet: a
// let-go request waits for it (settle), and then either finds it installed
// and lets go of it as of any session, or finds it unplaced. Answering from
// the claim while the install went on gave the client two owners: the
// asking node claimed the session and the install here served it too
// (TestTwoNodesRacingForOneClient).
type unplaced struct {
	mu   sync.Mutex
	from map[string]*claim
}

// claim is one session claimed here and not installed.
type claim struct {
	from       Positions
	installing chan struct{} // closed when the catch-up ends; nil between tries
}

// claimed notes client claimed here, to be caught up from from.
func (u *unplaced) claimed(client string, from Positions) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.from == nil {
		u.from = map[string]*claim{}
	}
	u.from[client] = &claim{from: from}
}

// begin notes the catch-up of client's claim started; done notes it ended.
// It reports false when another node took the claim meanwhile (a let-go
// answered between the claim and the catch-up): nothing may be installed.
func (u *unplaced) begin(client string) (done func(), ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.from[client]
	if !ok {
		return nil, false
	}
	ch := make(chan struct{})
	c.installing = ch
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		close(ch)
		if c.installing == ch {
			c.installing = nil
		}
	}, true
}

// settle waits until no catch-up of client's claim runs here, or ctx ends.
func (u *unplaced) settle(ctx context.Context, client string) {
	for {
		u.mu.Lock()
		c, ok := u.from[client]
		var ch chan struct{}
		if ok {
			ch = c.installing
		}
		u.mu.Unlock()
		if ch == nil {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// placed notes client installed here: its positions are this node's now.
func (u *unplaced) placed(client string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.from, client)
}

// take returns and forgets the positions of a session claimed here and
// never installed.
func (u *unplaced) take(client string) (Positions, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.from[client]
	if !ok {
		return Positions{}, false
	}
	delete(u.from, client)
	return c.from, true
}

// peek returns the positions of a session claimed here and never
// installed, keeping them: a claim that fails leaves them for the next try.
func (u *unplaced) peek(client string) (Positions, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.from[client]
	if !ok {
		return Positions{}, false
	}
	return c.from, true
}
