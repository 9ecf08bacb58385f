package broker

import "sync"

// sessionIndex maps client ids to session entries. It was a sync.Map; a
// plain map behind its own read-write lock holds an entry in about 45–55
// bytes where sync.Map's trie nodes took about 125, for every session
// (docs/decisions/0042). Writers (attach, the end of a session, recovery)
// already hold the broker's mu, and take this lock inside it; readers on
// the delivery path take only the read lock, for one lookup.
//
// A Go map never gives back its buckets as entries are deleted: after a
// burst of 100,000 clients that came and went, the index would hold its
// peak's buckets for good. So it is rebuilt when it has shrunk to a
// quarter of its peak (shrink), which costs a copy of what is left: over
// the deletes that brought it there, under one entry copied per three
// deleted. The copy runs on the ending session's goroutine, under the
// broker's mu but not the index's write lock: after 100,000 sessions it
// copies 25,000 in 4–6 ms on a loaded 2-core machine, once, while
// deliveries' lookups go on (BenchmarkSessionIndexAfterBurst: the index
// then holds 13 KiB for 100 sessions, 3.4 MiB without the rebuild).
//
// Its zero value is empty and ready.
type sessionIndex struct {
	mu     sync.RWMutex
	m      map[string]*entry
	peak   int    // the most entries m has held since it was made
	writes uint64 // changes to m: a copy taken under the read lock is whole if none came since
}

// shrinkFrom is the smallest peak worth a rebuild: below it the buckets a
// map keeps are a few tens of KiB.
const shrinkFrom = 1024

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
	x.writes++
	x.peak = max(x.peak, len(x.m))
	x.mu.Unlock()
}

// compareAndDelete removes id's entry if it is still e, and rebuilds the
// map when it has shrunk to a quarter of its peak.
func (x *sessionIndex) compareAndDelete(id string, e *entry) {
	x.mu.Lock()
	if x.m[id] != e {
		x.mu.Unlock()
		return
	}
	delete(x.m, id)
	x.writes++
	small := x.peak >= shrinkFrom && len(x.m) <= x.peak/4
	x.mu.Unlock()
	if small {
		x.shrink()
	}
}

// shrink replaces the map by a copy sized for what it holds. The copy is
// made under the read lock, so lookups on the delivery path go on while
// it is made, and swapped in under the write lock if no write came
// meanwhile (writers hold the broker's mu, as the caller does, so none
// should; recovery stores without it). Otherwise it is made again under
// the write lock: a lookup never sees a map missing an entry.
func (x *sessionIndex) shrink() {
	x.mu.RLock()
	m, w := x.copyLocked(), x.writes
	x.mu.RUnlock()
	if shrinkSeam != nil {
		shrinkSeam(x)
	}
	x.mu.Lock()
	if x.writes != w {
		m = x.copyLocked()
	}
	x.m, x.peak = m, len(m)
	x.mu.Unlock()
}

// shrinkSeam, when a test sets it, runs between a shrink's copy and its
// swap: a write made there must survive the swap.
var shrinkSeam func(*sessionIndex)

// copyLocked copies the map; the read or the write lock held.
func (x *sessionIndex) copyLocked() map[string]*entry {
	m := make(map[string]*entry, len(x.m))
	for id, e := range x.m {
		m[id] = e
	}
	return m
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
