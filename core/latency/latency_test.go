package latency

import (
	"sync"
	"testing"
	"time"
)

func TestObserveFillsTheBucketOfItsBound(t *testing.T) {
	var h Histogram
	cases := []struct {
		d      time.Duration
		bucket int
	}{
		{0, 0}, {time.Microsecond, 0}, {time.Microsecond + 1, 1}, {3 * time.Microsecond, 2},
		{time.Millisecond, 9}, {999 * time.Millisecond, 18}, {time.Second, 18}, {time.Hour, 19},
	}
	var sum time.Duration
	for _, c := range cases {
		h.Observe(c.d)
		sum += c.d
	}
	s := h.Snapshot()
	want := [NumBuckets]uint64{}
	for _, c := range cases {
		want[c.bucket]++
	}
	if s.Counts != want {
		t.Fatalf("counts %v, want %v", s.Counts, want)
	}
	if s.Sum != sum || s.Count() != uint64(len(cases)) {
		t.Fatalf("sum %v count %d, want %v and %d", s.Sum, s.Count(), sum, len(cases))
	}
}

func TestQuantileIsTheBoundOfItsBucket(t *testing.T) {
	var h Histogram
	for range 99 {
		h.Observe(3 * time.Microsecond) // bucket up to 5 µs
	}
	h.Observe(300 * time.Millisecond) // bucket up to 500 ms
	s := h.Snapshot()
	if got := s.Quantile(0.5); got != 5*time.Microsecond {
		t.Errorf("p50 %v, want 5µs", got)
	}
	if got := s.Quantile(1); got != 500*time.Millisecond {
		t.Errorf("p100 %v, want 500ms", got)
	}
	var empty Snapshot
	if empty.Quantile(0.99) != 0 {
		t.Error("an empty snapshot has a quantile")
	}
}

func TestConcurrentObservationsAreAllCounted(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	var a Snapshot
	s := h.Snapshot()
	a.Add(&s)
	a.Add(&s)
	if s.Count() != 4000 || a.Count() != 8000 || a.Sum != 2*s.Sum {
		t.Fatalf("count %d, added %d (sum %v, %v)", s.Count(), a.Count(), s.Sum, a.Sum)
	}
}

func BenchmarkObserve(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Observe(time.Duration(i&1023) * 100 * time.Nanosecond)
	}
}
