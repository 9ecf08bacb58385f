package broker

import "sync"

// sessionIndex maps client ids to session entries. It was a sync.Map; a
// plain map behind its own read-write lock holds an entry in about 45–55
// bytes where sync.Map's trie nodes took about 125, for every session
// (docs/decisions/0042). Writers (attach, the end of a session, recovery)
// already hold the broker's mu, and take this lock inside it; readers on
// the delivery path take only the read lock, for one lookup.
//
// Its zero value is empty and ready.
type sessionIndex struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// load returns the entry of id, if there is one.
func (x *sessionIndex) load(id string) (*entry, bool) {
	x.mu.RLock()
	e, ok := x.m[id]
	x.mu.RUnlock()
	return e, ok
}

// store sets the entry of id.
func (x *sessionIndex) store(id string, e *entry) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[string]*entry)
	}
	x.m[id] = e
	x.mu.Unlock()
}

// compareAndDelete removes id's entry if it is still e.
func (x *sessionIndex) compareAndDelete(id string, e *entry) {
	x.mu.Lock()
	if x.m[id] == e {
		delete(x.m, id)
	}
	x.mu.Unlock()
}

// len is the number of sessions.
func (x *sessionIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m)
}

// each calls f for the entries, until f returns false. f runs on a copy of
// the index taken at the call, without the index's lock, so it may take
// the broker's mu (which writers hold while they take this lock); as with
// sync.Map's Range, entries stored or deleted meanwhile may be missed or
// seen.
func (x *sessionIndex) each(f func(e *entry) bool) {
	x.mu.RLock()
	all := make([]*entry, 0, len(x.m))
	for _, e := range x.m {
		all = append(all, e)
	}
	x.mu.RUnlock()
	for _, e := range all {
		if !f(e) {
			return
		}
	}
}
