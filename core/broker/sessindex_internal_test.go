package broker

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The session index keeps the last entry stored per id, deletes only the
// entry it is asked to (a newer one survives an old session's end), and
// each visits a copy, so a callback may change the index.
func TestSessionIndex(t *testing.T) {
	var x sessionIndex
	if _, ok := x.load("a"); ok || x.len() != 0 {
		t.Fatal("the zero index is not empty")
	}
	old, cur, b := idEntry("a"), idEntry("a"), idEntry("b")
	x.store("a", old)
	x.store("a", cur)
	x.store("b", b)
	x.compareAndDelete("a", old) // an ended session that was replaced
	if e, ok := x.load("a"); !ok || e != cur {
		t.Fatal("compareAndDelete removed a newer entry")
	}
	seen := 0
	x.each(func(e *entry) bool {
		seen++
		x.compareAndDelete("b", b) // takes the index's lock: must not deadlock
		return true
	})
	if seen != 2 || x.len() != 1 {
		t.Fatalf("each saw %d entries, %d left; want 2 and 1", seen, x.len())
	}
}

// After a burst of clients that came and went, the index is rebuilt for
// what is left: its peak falls to what it holds, and the entries that
// stayed are all still found. Without the rebuild the map kept the
// buckets of its peak (BenchmarkSessionIndexAfterBurst).
func TestSessionIndexShrinksAfterABurst(t *testing.T) {
	var x sessionIndex
	const burst, stay = 8 * shrinkFrom, 100
	entries := make([]*entry, burst)
	for i := range entries {
		entries[i] = idEntry(fmt.Sprint(i))
		x.store(fmt.Sprint(i), entries[i])
	}
	before := x.t.slots
	for i := stay; i < burst; i++ {
		x.compareAndDelete(fmt.Sprint(i), entries[i])
	}
	x.mu.RLock()
	rebuilt, peak := &x.t.slots[0] != &before[0], x.peak
	x.mu.RUnlock()
	if !rebuilt || peak >= shrinkFrom {
		t.Fatalf("rebuilt %v, peak %d after %d of %d entries left; want rebuilt, peak < %d",
			rebuilt, peak, stay, burst, shrinkFrom)
	}
	for i := range stay {
		if e, ok := x.load(fmt.Sprint(i)); !ok || e != entries[i] {
			t.Fatalf("entry %d lost in the rebuild", i)
		}
	}
	if x.len() != stay {
		t.Fatalf("%d entries after the rebuild, want %d", x.len(), stay)
	}
}

// idEntry is an entry with its ID, which the index keys on.
func idEntry(id string) *entry {
	e := new(entry)
	e.ID = id
	return e
}

// A store that comes between a rebuild's copy and its swap (recovery
// stores without the broker's mu) is not lost with the old map.
func TestSessionIndexStoreRacingARebuildSurvives(t *testing.T) {
	var x sessionIndex
	late := idEntry("late")
	t.Cleanup(func() { shrinkSeam = nil })
	shrinkSeam = func(x *sessionIndex) {
		shrinkSeam = nil // once
		x.store("late", late)
	}
	fillAndEmpty(&x, "burst", 4*shrinkFrom)
	if shrinkSeam != nil {
		t.Fatal("no rebuild")
	}
	if e, ok := x.load("late"); !ok || e != late {
		t.Fatal("a store made during a rebuild was lost")
	}
}

// Lookups racing rebuilds never miss an entry that stays. Run under -race
// too.
func TestSessionIndexRebuildLosesNoLookup(t *testing.T) {
	var x sessionIndex
	const stable = 64
	stay := make([]*entry, stable)
	ids := make([]string, stable)
	for i := range stay {
		ids[i] = fmt.Sprintf("stay-%d", i)
		stay[i] = idEntry(ids[i])
		x.store(ids[i], stay[i])
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var misses, lookups atomic.Int64
	for range 2 { // readers, as the delivery path
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if e, ok := x.load(ids[i%stable]); !ok || e != stay[i%stable] {
					misses.Add(1)
				}
				lookups.Add(1)
			}
		}()
	}
	for round := range 10 {
		fillAndEmpty(&x, fmt.Sprint("burst-", round), 4*shrinkFrom)
	}
	close(stop)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Fatalf("%d of %d lookups missed an entry that stayed", n, lookups.Load())
	}
}

// fillAndEmpty stores n entries and deletes them again, which rebuilds
// the index at least once.
func fillAndEmpty(x *sessionIndex, prefix string, n int) {
	ids, es := make([]string, n), make([]*entry, n)
	for i := range ids {
		ids[i] = fmt.Sprint(prefix, "-", i)
		es[i] = idEntry(ids[i])
		x.store(ids[i], es[i])
	}
	for i := range ids {
		x.compareAndDelete(ids[i], es[i])
	}
}

// BenchmarkSessionIndexAfterBurst is the live heap an index holds for 100
// sessions after 100,000 came and went, and what the rebuild that brings
// it there costs.
//
//	heap-KiB       live heap of the index (its entries excluded) after the burst
//	rebuild-µs     the one rebuild (copy of 25,000 entries) the burst's end takes
func BenchmarkSessionIndexAfterBurst(b *testing.B) {
	const burst, stay = 100_000, 100
	ids := make([]string, burst)
	entries := make([]*entry, burst)
	for i := range ids {
		ids[i] = fmt.Sprint("device-", i)
		entries[i] = idEntry(ids[i])
	}
	var heap, rebuild float64
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		x := new(sessionIndex)
		for i := range ids {
			x.store(ids[i], entries[i])
		}
		for i := stay; i < burst; i++ {
			if x.t.n-1 == burst/4 { // this delete rebuilds
				start := time.Now()
				x.compareAndDelete(ids[i], entries[i])
				rebuild += float64(time.Since(start).Microseconds())
				continue
			}
			x.compareAndDelete(ids[i], entries[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap += float64(m1.HeapAlloc-m0.HeapAlloc) / 1024
		runtime.KeepAlive(x)
	}
	b.ReportMetric(heap/float64(b.N), "heap-KiB")
	b.ReportMetric(rebuild/float64(b.N), "rebuild-µs")
	b.ReportMetric(0, "ns/op")
}

// The table agrees with a map through random stores and deletes over few
// ids, so that probe chains collide, wrap round the table's end and are
// shifted back by deletes; the table also grows and shrinks meanwhile.
func TestSessionIndexAgreesWithAMap(t *testing.T) {
	var x sessionIndex
	model := map[string]*entry{}
	rng := rand.New(rand.NewPCG(1, 2))
	for op := range 200_000 {
		// Few ids for the first half (long chains), many after (growth
		// past shrinkFrom, then a rebuild as they are deleted).
		space := 50
		if op > 100_000 && op < 150_000 {
			space = 4 * shrinkFrom
		}
		id := fmt.Sprint("k", rng.IntN(space))
		if rng.IntN(3) == 0 || (op >= 150_000 && rng.IntN(2) == 0) {
			if e, ok := model[id]; ok {
				x.compareAndDelete(id, e)
				delete(model, id)
			}
		} else {
			e := idEntry(id)
			x.store(id, e)
			model[id] = e
		}
		if op%997 == 0 || op == 199_999 {
			if x.len() != len(model) {
				t.Fatalf("op %d: %d entries, want %d", op, x.len(), len(model))
			}
			for i := range space {
				id := fmt.Sprint("k", i)
				e, ok := x.load(id)
				if want, wok := model[id]; ok != wok || e != want {
					t.Fatalf("op %d: load(%q) = %p, %v; want %p, %v", op, id, e, ok, want, wok)
				}
			}
		}
	}
}

// BenchmarkSessionIndexBytesPerEntry is the index's own heap per session
// for 8,000 (the bench's idle scenario), entries excluded.
func BenchmarkSessionIndexBytesPerEntry(b *testing.B) {
	const n = 8000
	es := make([]*entry, n)
	for i := range es {
		es[i] = idEntry(fmt.Sprint("idle-", i))
	}
	var per float64
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		x := new(sessionIndex)
		for _, e := range es {
			x.store(e.ID, e)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		per += float64(m1.HeapAlloc-m0.HeapAlloc) / n
		runtime.KeepAlive(x)
	}
	b.ReportMetric(per/float64(b.N), "B/entry")
	b.ReportMetric(0, "ns/op")
}
