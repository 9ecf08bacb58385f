package takeover

import "sync"

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
type unplaced struct {
	mu   sync.Mutex
	from map[string]Positions
}

// claimed notes client claimed here, to be caught up from from.
func (u *unplaced) claimed(client string, from Positions) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.from == nil {
		u.from = map[string]Positions{}
	}
	u.from[client] = from
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
	p, ok := u.from[client]
	delete(u.from, client)
	return p, ok
}

// peek returns the positions of a session claimed here and never
// installed, keeping them: a claim that fails leaves them for the next try.
func (u *unplaced) peek(client string) (Positions, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, ok := u.from[client]
	return p, ok
}
