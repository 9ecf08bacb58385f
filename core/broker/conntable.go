package broker

import (
	"sync/atomic"
)

// connTable is the broker's connections, each in a numbered slot: the set
// Shutdown kicks and max_connections counts, and what the idle poller
// finds a ready socket's connection by (park_linux.go). It replaces a
// map[*client]struct{} and the poller's map[uint64]*client, 22 bytes per
// connection each at 8,000; a slot is 8 (docs/decisions/0049).
//
// Slots are written under the broker's mu (track, untrack) and read by the
// poller without it: they sit in fixed chunks that never move, published
// through atomic pointers, so growth never copies a slot under a reader.
// A freed slot is reused, so a reader that finds a client checks that it is
// the one it was told of (lookup's handle).
type connTable struct {
	chunks atomic.Pointer[[]*connChunk]
	free   []int32 // freed slot numbers, reused last in first out
	next   int32   // slots ever used; every slot below is in a chunk
	n      int     // slots holding a connection
}

// connChunk slots are 256 at a time: 2 KiB, a size class of its own, so
// that a broker with a few connections does not pay for thousands.
const connChunkBits = 8

type connChunk [1 << connChunkBits]atomic.Pointer[client]

// add puts c in a free slot and records it in c.tslot; with b.mu.
func (t *connTable) add(c *client) {
	var s int32
	if k := len(t.free); k > 0 {
		s, t.free = t.free[k-1], t.free[:k-1]
	} else {
		s = t.next
		t.next++
		var chunks []*connChunk
		if p := t.chunks.Load(); p != nil {
			chunks = *p
		}
		if int(s>>connChunkBits) == len(chunks) {
			// A new array of chunk pointers each time, never an append
			// in place: the poller may be reading the old one.
			grown := make([]*connChunk, len(chunks)+1)
			copy(grown, chunks)
			grown[len(chunks)] = new(connChunk)
			t.chunks.Store(&grown)
		}
	}
	t.slot(s).Store(c)
	c.tslot = s + 1
	t.n++
}

// remove frees c's slot, if it has one; with b.mu. It reports whether c
// was in the table.
func (t *connTable) remove(c *client) bool {
	if c.tslot == 0 {
		return false
	}
	s := c.tslot - 1
	t.slot(s).Store(nil)
	c.tslot = 0
	t.free = append(t.free, s)
	t.n--
	return true
}

// slot is slot s, which exists.
func (t *connTable) slot(s int32) *atomic.Pointer[client] {
	return &(*t.chunks.Load())[s>>connChunkBits][s&(1<<connChunkBits-1)]
}

// each calls f with every connection in the table until f returns false;
// with b.mu.
func (t *connTable) each(f func(c *client) bool) {
	p := t.chunks.Load()
	if p == nil {
		return
	}
	for _, ch := range *p {
		for i := range ch {
			if c := ch[i].Load(); c != nil && !f(c) {
				return
			}
		}
	}
}

// tag is what names c to the poller (epoll's 64 bits of user data): its
// slot, and the low half of its handle, which tells it from a later
// connection in the same slot. Never 0, the poller's own wake-up token.
func (t *connTable) tag(c *client) uint64 {
	return uint64(uint32(c.tslot)) | uint64(uint32(c.info.Handle))<<32
}

// lookup is the connection tag names, or nil when it has left the slot
// (another may be there now). Safe without b.mu.
func (t *connTable) lookup(tag uint64) *client {
	s := int64(uint32(tag)) - 1
	p := t.chunks.Load()
	if s < 0 || p == nil || s>>connChunkBits >= int64(len(*p)) {
		return nil
	}
	c := (*p)[s>>connChunkBits][s&(1<<connChunkBits-1)].Load()
	if c == nil || uint32(c.info.Handle) != uint32(tag>>32) {
		return nil
	}
	return c
}
