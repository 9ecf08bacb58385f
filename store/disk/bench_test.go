package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

// fill writes sessions sessions with perSession queued deliveries each, a
// message of its own per delivery (the worst case: nothing shared), 100
// bytes of payload, in large async batches.
func fill(b *testing.B, dir string, sessions, perSession int) {
	s, err := Open(Config{Path: dir, Mode: ModeAsync}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 100)
	var ops []session.Op
	id := uint64(0)
	for c := range sessions {
		client := fmt.Sprintf("client-%06d", c)
		ops = append(ops, session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: client, Expiry: 3600,
			Subscriptions: []session.Subscription{{Identifier: 1}}}})
		for d := range perSession {
			id++
			m := &session.Message{Topic: "devices/" + client + "/cmd", Payload: payload, QoS: 1, ID: id}
			del := session.Delivery{Msg: m, QoS: 1, Seq: uint64(d + 1)}
			if d < 10 {
				del.PacketID = uint16(d + 1)
			}
			ops = append(ops, session.Op{Kind: session.PutMessage, Message: m}, session.Op{Kind: session.PutDelivery, Client: client, Delivery: del})
		}
		if len(ops) > 20000 {
			if err := s.Commit(ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if err := s.Commit(ops); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoad is recovery: Open and Load of a store of queued deliveries.
// The 1,000,000-delivery case (10,000 sessions × 100) runs with
// PLUME_BENCH_LARGE=1: it writes some 300 MB first.
func BenchmarkLoad(b *testing.B) {
	cases := []struct{ sessions, per int }{{100, 100}, {1000, 100}, {10000, 10}}
	if os.Getenv("PLUME_BENCH_LARGE") != "" {
		cases = append(cases, struct{ sessions, per int }{10000, 100})
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("sessions=%d/deliveries=%d", c.sessions, c.per), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "store")
			fill(b, dir, c.sessions, c.per)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s, err := Open(Config{Path: dir}, zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				snap, err := s.Load()
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Sessions) != c.sessions {
					b.Fatalf("%d sessions loaded", len(snap.Sessions))
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.sessions*c.per), "ns/delivery")
			b.ReportMetric(float64(dirBytes(b, dir, ""))/(1<<20), "MiB-on-disk")
		})
	}
}

// BenchmarkCommit is one Commit of batch messages, each a PutMessage and a
// PutDelivery (100-byte payload): ns/op is the Commit's latency, msgs/s
// the throughput of one committing goroutine. "parallel" runs
// GOMAXPROCS×8 goroutines committing at once: sync mode shares fsyncs
// among them (Pebble's commit pipeline).
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{ModeSync, ModeAsync} {
		for _, batch := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, batch), func(b *testing.B) {
				s := openT(b, Config{Path: filepath.Join(b.TempDir(), "store"), Mode: mode})
				defer s.Close()
				var next atomic.Uint64
				commitBatch(b, s, batch, &next) // the session record
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					commitBatch(b, s, batch, &next)
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
		b.Run(mode+"/parallel/batch=1", func(b *testing.B) {
			s := openT(b, Config{Path: filepath.Join(b.TempDir(), "store"), Mode: mode})
			defer s.Close()
			var next atomic.Uint64
			commitBatch(b, s, 1, &next)
			b.SetParallelism(8)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					commitBatch(b, s, 1, &next)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func commitBatch(b *testing.B, s *Store, n int, next *atomic.Uint64) {
	payload := make([]byte, 100)
	ops := make([]session.Op, 0, 2*n+1)
	if next.Load() == 0 {
		ops = append(ops, session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c"}})
	}
	for range n {
		id := next.Add(1)
		m := &session.Message{Topic: "bench/t", Payload: payload, QoS: 1, ID: id}
		ops = append(ops, session.Op{Kind: session.PutMessage, Message: m},
			session.Op{Kind: session.PutDelivery, Client: "c", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: id}})
	}
	if err := s.Commit(ops); err != nil {
		b.Fatal(err)
	}
}
