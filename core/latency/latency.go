// Package latency is a histogram of durations with fixed buckets, kept with
// atomics so that the paths it measures (a plugin call, a store commit) pay
// a few atomic adds and take no lock, and readers (a metrics scrape) take a
// snapshot at any time. The buckets are fixed, 1 µs to 1 s in a 1-2-5
// series, so every histogram of the binary has the same shape and two
// snapshots can be added or subtracted bucket by bucket.
package latency

import (
	"sync/atomic"
	"time"
)

// Bounds are the upper bounds of the buckets, inclusive, in ascending order;
// one more bucket past the last holds everything slower than 1 s.
var Bounds = [...]time.Duration{
	1 * time.Microsecond, 2 * time.Microsecond, 5 * time.Microsecond,
	10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second,
}

// NumBuckets is len(Bounds) plus the bucket past the last bound.
const NumBuckets = len(Bounds) + 1

// Histogram counts durations into the buckets of Bounds. The zero value is
// ready; safe for concurrent use; it must not be copied after first use.
type Histogram struct {
	counts [NumBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe counts d. Its cost is a scan of at most len(Bounds) comparisons
// (a fast call stops at the first few) and two atomic adds.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(Bounds) && d > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	// Counts holds the observations per bucket (not cumulative): Counts[i]
	// those up to Bounds[i] and above Bounds[i-1]; the last, those above 1 s.
	Counts [NumBuckets]uint64
	// Sum is the total of the durations observed.
	Sum time.Duration
}

// Snapshot reads the histogram. Buckets are read one by one while
// observations go on, so Count and Sum may disagree by the calls in flight;
// each is exact for what it read.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Count is the number of observations.
func (s *Snapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Add adds o's observations to s.
func (s *Snapshot) Add(o *Snapshot) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Sum += o.Sum
}

// Quantile estimates the q-quantile (0 < q <= 1) as the upper bound of the
// bucket it falls in: an upper estimate, exact to the bucket. It is 0 for an
// empty snapshot, and for the last bucket the last bound (1 s).
func (s *Snapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank && i < len(Bounds) {
			return Bounds[i]
		}
	}
	return Bounds[len(Bounds)-1]
}
