package broker

import (
	"runtime"
	"sync"
	"testing"
)

func tableClient(handle uint64) *client {
	c := &client{}
	c.info.Handle = handle
	return c
}

// TestConnTableSlotsAndStaleTags: connections in more than one chunk, some
// leaving and their slots reused. Each lookup finds the connection its tag
// named, a tag of one that left finds nothing even when another holds its
// slot now (the poller must not wake the wrong connection, 0049), and each
// visits exactly the ones in the table. Fails if lookup does not check the
// handle, or if remove does not free the slot.
func TestConnTableSlotsAndStaleTags(t *testing.T) {
	var tb connTable
	const n = 3*(1<<connChunkBits) + 7
	cs := make([]*client, n)
	tags := make([]uint64, n)
	for i := range cs {
		cs[i] = tableClient(uint64(i + 1))
		tb.add(cs[i])
		tags[i] = tb.tag(cs[i])
		if tags[i] == 0 {
			t.Fatalf("connection %d has the poller's wake-up token (0) as its tag", i)
		}
	}
	for i, c := range cs {
		if got := tb.lookup(tags[i]); got != c {
			t.Fatalf("lookup(tag of %d) = %p, want %p", i, got, c)
		}
	}
	// Every third leaves; as many arrive, into the freed slots.
	var gone []uint64
	for i := 0; i < n; i += 3 {
		if !tb.remove(cs[i]) || tb.remove(cs[i]) {
			t.Fatalf("remove of %d: want true once, then false", i)
		}
		gone = append(gone, tags[i])
		cs[i] = nil
	}
	next := uint64(n + 1)
	for i := 0; i < n; i += 3 {
		cs[i] = tableClient(next)
		next++
		tb.add(cs[i])
		tags[i] = tb.tag(cs[i])
	}
	if tb.next != n {
		t.Errorf("%d slots used for %d connections: freed slots were not reused", tb.next, n)
	}
	for _, tag := range gone {
		if c := tb.lookup(tag); c != nil {
			t.Fatalf("the tag of a connection that left (slot %d) found handle %d", uint32(tag), c.info.Handle)
		}
	}
	seen := map[*client]bool{}
	tb.each(func(c *client) bool { seen[c] = true; return true })
	for i, c := range cs {
		if tb.lookup(tags[i]) != c || !seen[c] {
			t.Fatalf("connection %d: lookup %p, visited %v", i, tb.lookup(tags[i]), seen[c])
		}
	}
	if len(seen) != n || tb.n != n {
		t.Fatalf("each visited %d, n = %d; want %d", len(seen), tb.n, n)
	}
	for _, tag := range []uint64{0, 1<<32 | uint64(n+100), ^uint64(0)} {
		if c := tb.lookup(tag); c != nil {
			t.Fatalf("lookup(%#x) outside the table found %p", tag, c)
		}
	}
}

// TestConnTableLookupWhileGrowing: the poller looks connections up without
// the broker's lock while CONNECTs add them and the table grows; run with
// -race, it fails if growth writes anything a lookup reads.
func TestConnTableLookupWhileGrowing(t *testing.T) {
	var tb connTable
	var mu sync.Mutex // the broker's mu, for the writers
	const n = 8 * (1 << connChunkBits)
	tags := make(chan uint64, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tag := range tags {
			if c := tb.lookup(tag); c == nil || uint32(c.info.Handle) != uint32(tag>>32) {
				t.Errorf("lookup(%#x) = %v while the table grew", tag, c)
				return
			}
		}
	}()
	for i := range n {
		c := tableClient(uint64(i + 1))
		mu.Lock()
		tb.add(c)
		tag := tb.tag(c)
		mu.Unlock()
		tags <- tag
	}
	close(tags)
	wg.Wait()
}

// BenchmarkConnTableBytesPerConn is what the table holds per connection at
// 8,000 (the bench's idle fleet), beside the two maps it replaced
// (map[*client]struct{} and map[uint64]*client).
func BenchmarkConnTableBytesPerConn(b *testing.B) {
	const n = 8000
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = tableClient(uint64(i + 1))
	}
	measure := func(fill func() any) float64 {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		x := fill()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(x)
		return float64(m1.HeapAlloc-m0.HeapAlloc) / n
	}
	var table, maps float64
	for b.Loop() {
		table += measure(func() any {
			t := new(connTable)
			for _, c := range cs {
				t.add(c)
			}
			return t
		})
		for _, c := range cs {
			c.tslot = 0
		}
		maps += measure(func() any {
			set, byHandle := map[*client]struct{}{}, map[uint64]*client{}
			for _, c := range cs {
				set[c], byHandle[c.info.Handle] = struct{}{}, c
			}
			return []any{set, byHandle}
		})
	}
	b.ReportMetric(table/float64(b.N), "table-B/conn")
	b.ReportMetric(maps/float64(b.N), "maps-B/conn")
	b.ReportMetric(0, "ns/op")
}
