// Package budget bounds the bytes that many owners hold together: every
// connection's packets still arriving (core/broker's read path), every
// session's queued messages (core/session). One counter, shared, taken and
// given back with atomics rather than a lock, since every connection or
// session touches it.
package budget

import "sync/atomic"

// Bytes is a byte budget. A nil *Bytes is unbounded and counts nothing; a
// Bytes with a limit of 0 or less is unbounded but counts. Safe for
// concurrent use.
type Bytes struct {
	limit atomic.Int64 // SetLimit changes it while owners take and give
	used  atomic.Int64
}

// New returns a budget of limit bytes; limit <= 0 means no bound, only
// accounting.
func New(limit int64) *Bytes {
	b := &Bytes{}
	b.limit.Store(limit)
	return b
}

// SetLimit changes the bound (<= 0: none). Bytes already taken stay taken,
// even past a lowered bound; takes that would pass it fail until enough are
// given back.
func (b *Bytes) SetLimit(limit int64) {
	if b != nil {
		b.limit.Store(limit)
	}
}

// Take reserves n bytes and reports whether they fit.
func (b *Bytes) Take(n int64) bool {
	if b == nil {
		return true
	}
	limit := b.limit.Load()
	if limit <= 0 {
		b.used.Add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u+n > limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Force reserves n bytes whether or not they fit: for what is already held
// and must not be dropped (a session restored from a store).
func (b *Bytes) Force(n int64) {
	if b != nil {
		b.used.Add(n)
	}
}

// Give returns n bytes taken before.
func (b *Bytes) Give(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Used is how many bytes are taken now.
func (b *Bytes) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Limit is the bound in bytes, 0 or less for none.
func (b *Bytes) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit.Load()
}
