package session_test

import (
	"runtime"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// BenchmarkQueuedReadingMemory is what one small reading queued for an
// offline session costs the heap, beside what the session counts for it
// against max_queued_bytes (docs/decisions/0046). The message is shared, as
// a fan-out's is: what each session adds is its Delivery slot, plus the
// queue's spare capacity as it grows by doubling.
//
//	heap-B/msg     live heap per queued delivery, message excluded
//	counted-B/msg  Stats.Bytes per queued delivery
func BenchmarkQueuedReadingMemory(b *testing.B) {
	const n = 100_000
	m := &session.Message{Topic: "fleet/1/reading", Payload: []byte("21.5C"), QoS: 1}
	var heap, counted float64
	for b.Loop() {
		before := liveHeap()
		s := session.New("offline", &session.Limits{MaxQueued: n})
		for range n {
			s.Offer(session.Delivery{Msg: m, QoS: 1}, 1, nil)
		}
		heap += float64(liveHeap()-before) / n
		counted += float64(s.Stats().Bytes) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/msg")
	b.ReportMetric(counted/float64(b.N), "counted-B/msg")
	b.ReportMetric(0, "ns/op")
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
