package broker

import "sync/atomic"

// A byteBudget bounds bytes held broker-wide for one purpose. It is shared by
// every connection, so taking is a compare-and-swap loop rather than a lock.
// A nil budget is unbounded.
type byteBudget struct {
	limit int64
	used  atomic.Int64
	// refused counts takes that did not fit, for $SYS.
	refused atomic.Uint64
}

func newByteBudget(limit int64) *byteBudget {
	if limit <= 0 {
		return nil
	}
	return &byteBudget{limit: limit}
}

// take reserves n bytes and reports whether they fit.
func (b *byteBudget) take(n int) bool {
	if b == nil {
		return true
	}
	for {
		used := b.used.Load()
		if used+int64(n) > b.limit {
			b.refused.Add(1)
			return false
		}
		if b.used.CompareAndSwap(used, used+int64(n)) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (b *byteBudget) give(n int) {
	if b != nil {
		b.used.Add(-int64(n))
	}
}

// inUse is the bytes currently taken.
func (b *byteBudget) inUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}
