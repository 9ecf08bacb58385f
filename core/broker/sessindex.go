package broker

import (
	"hash/maphash"
	"sync"
)

// sessionIndex maps client ids to session entries. It was a sync.Map (about
// 125 bytes per session), then a map[string]*entry (45–55: a slot holds the
// id's string header and the pointer, and the table runs between 7/16 and
// 7/8 full, docs/decisions/0042). It is now an open-addressed table of the
// entries themselves, keyed by each entry's own ID, with one byte of the
// hash beside each slot: 9 bytes a slot, between 3/8 and 3/4 full, 12–24
// bytes per session (docs/decisions/0048). Writers (attach, the end of a
// session, recovery) already hold the broker's mu, and take this lock inside
// it; readers on the delivery path take only the read lock, for one lookup.
//
// The table shrinks too: after a burst of 100,000 clients that came and
// went it would hold its peak's slots for good. So it is rebuilt when it
// has shrunk to a quarter of its peak (shrink), which costs a copy of what
// is left: over the deletes that brought it there, under one entry copied
// per three deleted. The copy runs on the ending session's goroutine, under
// the broker's mu but not the index's write lock, while deliveries' lookups
// go on (BenchmarkSessionIndexAfterBurst).
//
// Its zero value is empty and ready.
type sessionIndex struct {
	mu     sync.RWMutex
	t      idTable
	peak   int    // the most entries t has held since it was made
	writes uint64 // changes to t: a copy taken under the read lock is whole if none came since
}

// idTable is the index's table: linear probing, no tombstones (a delete
// shifts the slots after it back), slots a power of two long.
type idTable struct {
	slots []*entry
	tags  []uint8 // the hash's top byte, with the low bit set: 0 is an empty slot
	n     int
	seed  maphash.Seed
}

// shrinkFrom is the smallest peak worth a rebuild: below it the table is a
// few KiB.
const shrinkFrom = 1024

// minSlots is the size of a table's first allocation.
const minSlots = 8

// hash is id's slot hash and its tag.
func (t *idTable) hash(id string) (uint64, uint8) {
	h := maphash.String(t.seed, id)
	return h, uint8(h>>56) | 1
}

// find returns the slot of id, or of the empty slot where it would go.
// The table has at least one empty slot.
func (t *idTable) find(id string) (int, bool) {
	h, tag := t.hash(id)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			return i, false
		case tag:
			if t.slots[i].ID == id {
				return i, true
			}
		}
	}
}

func (t *idTable) load(id string) (*entry, bool) {
	if t.n == 0 {
		return nil, false
	}
	i, ok := t.find(id)
	if !ok {
		return nil, false
	}
	return t.slots[i], true
}

// put sets e in the slot of its ID, growing the table past 3/4 full.
func (t *idTable) put(e *entry) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minSlots, len(t.slots)*2))
	}
	i, ok := t.find(e.ID)
	if !ok {
		_, t.tags[i] = t.hash(e.ID)
		t.n++
	}
	t.slots[i] = e
}

// remove empties slot i and shifts back the entries after it that probed
// past it, so that every entry stays reachable from its home slot.
func (t *idTable) remove(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.tags[j] != 0; j = (j + 1) & mask {
		h, _ := t.hash(t.slots[j].ID)
		home := int(h) & mask
		// j's entry may move to i if i lies on its probe path, home..j.
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.tags[i] = t.slots[j], t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = nil, 0
	t.n--
}

// resize rehashes the table into size slots (a power of two).
func (t *idTable) resize(size int) {
	old := t.slots
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
	}
	t.slots, t.tags, t.n = make([]*entry, size), make([]uint8, size), 0
	for _, e := range old {
		if e != nil {
			t.put(e)
		}
	}
}

// sized is a copy of t in the fewest slots that hold it under 3/4 full.
func (t *idTable) sized() idTable {
	size := minSlots
	for size*3 < t.n*4 {
		size *= 2
	}
	c := idTable{seed: t.seed, slots: make([]*entry, size), tags: make([]uint8, size)}
	for _, e := range t.slots {
		if e != nil {
			c.put(e)
		}
	}
	return c
}

// load returns the entry of id, if there is one.
func (x *sessionIndex) load(id string) (*entry, bool) {
	x.mu.RLock()
	e, ok := x.t.load(id)
	x.mu.RUnlock()
	return e, ok
}

// store sets e as the entry of its ID. id is e.ID, which the table keys on.
func (x *sessionIndex) store(id string, e *entry) {
	if id != e.ID {
		panic("broker: session index: an entry stored under another id")
	}
	x.mu.Lock()
	x.t.put(e)
	x.writes++
	x.peak = max(x.peak, x.t.n)
	x.mu.Unlock()
}

// compareAndDelete removes id's entry if it is still e, and rebuilds the
// table when it has shrunk to a quarter of its peak.
func (x *sessionIndex) compareAndDelete(id string, e *entry) {
	x.mu.Lock()
	if x.t.n == 0 {
		x.mu.Unlock()
		return
	}
	i, ok := x.t.find(id)
	if !ok || x.t.slots[i] != e {
		x.mu.Unlock()
		return
	}
	x.t.remove(i)
	x.writes++
	small := x.peak >= shrinkFrom && x.t.n <= x.peak/4
	x.mu.Unlock()
	if small {
		x.shrink()
	}
}

// shrink replaces the table by a copy sized for what it holds. The copy is
// made under the read lock, so lookups on the delivery path go on while
// it is made, and swapped in under the write lock if no write came
// meanwhile (writers hold the broker's mu, as the caller does, so none
// should; recovery stores without it). Otherwise it is made again under
// the write lock: a lookup never sees a table missing an entry.
func (x *sessionIndex) shrink() {
	x.mu.RLock()
	t, w := x.t.sized(), x.writes
	x.mu.RUnlock()
	if shrinkSeam != nil {
		shrinkSeam(x)
	}
	x.mu.Lock()
	if x.writes != w {
		t = x.t.sized()
	}
	x.t, x.peak = t, t.n
	x.mu.Unlock()
}

// shrinkSeam, when a test sets it, runs between a shrink's copy and its
// swap: a write made there must survive the swap.
var shrinkSeam func(*sessionIndex)

// len is the number of sessions.
func (x *sessionIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.t.n
}

// each calls f for the entries, until f returns false. f runs on a copy of
// the index taken at the call, without the index's lock, so it may take
// the broker's mu (which writers hold while they take this lock); as with
// sync.Map's Range, entries stored or deleted meanwhile may be missed or
// seen.
func (x *sessionIndex) each(f func(e *entry) bool) {
	x.mu.RLock()
	all := make([]*entry, 0, x.t.n)
	for _, e := range x.t.slots {
		if e != nil {
			all = append(all, e)
		}
	}
	x.mu.RUnlock()
	for _, e := range all {
		if !f(e) {
			return
		}
	}
}
