package jetstream

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/disk"
)

// The benchmarks run store/disk beside this store, in the same run, on the
// same machine: JetStream on one in-process server (R1) with its default
// sync (every 2 minutes) and with sync_always, Pebble in sync mode.

type benchStore struct {
	name string
	open func(b *testing.B) session.Store
	// reopen makes a new store on the same data, as a restart does.
	reopen func(b *testing.B, s session.Store) session.Store
}

func benchStores() []benchStore {
	js := func(syncAlways bool) benchStore {
		name := "jetstream"
		if syncAlways {
			name += "-sync-always"
		}
		return benchStore{
			name: name,
			open: func(b *testing.B) session.Store {
				return openT(b, connect(b, runServerSync(b, syncAlways)), Config{Prefix: "bench", Node: "n1"})
			},
			reopen: func(b *testing.B, s session.Store) session.Store {
				st := s.(*Store)
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
				return openT(b, st.nc, st.Config())
			},
		}
	}
	return []benchStore{js(false), js(true), {
		name: "disk-sync",
		open: func(b *testing.B) session.Store {
			s, err := disk.Open(disk.Config{Path: filepath.Join(b.TempDir(), "store"), Mode: disk.ModeSync}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		reopen: func(b *testing.B, s session.Store) session.Store {
			d := s.(*disk.Store)
			if err := d.Close(); err != nil {
				b.Fatal(err)
			}
			s2, err := disk.Open(disk.Config{Path: d.Path(), Mode: disk.ModeSync}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			return s2
		},
	}}
}

// BenchmarkCommit is the Commit of batch QoS 1 publishes' ops (a
// PutMessage and a PutDelivery each, 100-byte payload): ns/op is the
// Commit's latency.
func BenchmarkCommit(b *testing.B) {
	for _, st := range benchStores() {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", st.name, batch), func(b *testing.B) {
				s := st.open(b)
				defer s.Close()
				if err := s.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c"}}}); err != nil {
					b.Fatal(err)
				}
				payload := make([]byte, 100)
				ops := make([]session.Op, 0, 2*batch)
				id := uint64(0)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					ops = ops[:0]
					for range batch {
						id++
						m := &session.Message{Topic: "bench/t", Payload: payload, QoS: 1, ID: id}
						ops = append(ops, session.Op{Kind: session.PutMessage, Message: m},
							session.Op{Kind: session.PutDelivery, Client: "c", Delivery: session.Delivery{Msg: m, QoS: 1, Seq: id}})
					}
					if err := s.Commit(ops); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkLoad is a restart's reading: Load of sessions sessions with
// per queued QoS 1 deliveries each, a message of its own per delivery
// (100-byte payload); the store is reopened before each Load.
func BenchmarkLoad(b *testing.B) {
	for _, st := range benchStores() {
		for _, c := range []struct{ sessions, per int }{{10000, 0}, {10000, 10}} {
			b.Run(fmt.Sprintf("%s/sessions=%d/deliveries=%d", st.name, c.sessions, c.per), func(b *testing.B) {
				s := st.open(b)
				fill(b, s, c.sessions, c.per)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					s = st.reopen(b, s)
					b.StartTimer()
					snap, err := s.Load()
					if err != nil {
						b.Fatal(err)
					}
					if len(snap.Sessions) != c.sessions {
						b.Fatalf("%d sessions loaded, want %d", len(snap.Sessions), c.sessions)
					}
				}
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*c.sessions), "µs/session")
			})
		}
	}
}

func fill(b *testing.B, s session.Store, sessions, per int) {
	payload := make([]byte, 100)
	var ops []session.Op
	id := uint64(0)
	for c := range sessions {
		client := fmt.Sprintf("client-%06d", c)
		ops = append(ops, session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: client, Expiry: 3600,
			Subscriptions: []session.Subscription{{Identifier: 1}}}})
		for d := range per {
			id++
			m := &session.Message{Topic: "devices/" + client + "/cmd", Payload: payload, QoS: 1, ID: id}
			ops = append(ops, session.Op{Kind: session.PutMessage, Message: m},
				session.Op{Kind: session.PutDelivery, Client: client, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: uint64(d + 1)}})
		}
		if len(ops) > 5000 {
			if err := s.Commit(ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if err := s.Commit(ops); err != nil {
		b.Fatal(err)
	}
}
