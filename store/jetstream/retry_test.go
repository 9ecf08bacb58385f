package jetstream

import (
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// The journal commits the ops of a failed Commit again, with the ops made
// since after them (decision 0059): the store must take ops that already
// happened in part — a Commit that failed while logging (nothing applied)
// or while applying (its log entry pending, finished first) — and end in
// the state after all of them, without counting this node's own sessions
// as taken by another (the record writes are conditional, fence.go).
func TestACommitFailedMidwayIsTakenAgainWithLaterOps(t *testing.T) {
	nc := connect(t, runServer(t))
	first, second := crashOps()
	m3 := &session.Message{Topic: "c", Payload: []byte("three"), QoS: 1, ID: 3}
	later := []session.Op{
		{Kind: session.PutMessage, Message: m3},
		{Kind: session.PutDelivery, Client: "kept", Delivery: session.Delivery{Msg: m3, QoS: 1, Seq: 6}},
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "new", Expiry: 90}},
		{Kind: session.Position, Shard: 1, Seq: 42},
	}
	want := expected(t, first, second, later)
	for _, stage := range []string{"log", "apply"} {
		for i := 0; ; i++ {
			s := openT(t, nc, freshConfig("n1"))
			var lost atomic.Int32
			s.SetOnLost(func(string) { lost.Add(1) })
			if err := s.Commit(first); err != nil {
				t.Fatal(err)
			}
			failed := false
			s.crash = func(st string, j int) bool { // one write fails, once; the process lives on
				if st == stage && j == i && !failed {
					failed = true
					return true
				}
				return false
			}
			err := s.Commit(second)
			if !failed {
				if err != nil {
					t.Fatal(err)
				}
				break // past the Commit's last write
			}
			if err == nil {
				t.Fatalf("%s write %d failed, and Commit returned nil", stage, i)
			}
			if err := s.Commit(append(append([]session.Op(nil), second...), later...)); err != nil {
				t.Fatalf("%s write %d failed; the Commit given again: %v", stage, i, err)
			}
			got := load(t, s)
			for len(got.Positions) > len(want.Positions) && got.Positions[len(got.Positions)-1] == 0 {
				got.Positions = got.Positions[:len(got.Positions)-1] // the shards past the last position: at 0 either way
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s write %d failed, then the ops were given again: loaded\n%s%v\nwant\n%s%v", stage, i, dump(got), got.Positions, dump(want), want.Positions)
			}
			if n := lost.Load(); n != 0 {
				t.Fatalf("%s write %d failed: %d sessions counted as taken by another node", stage, i, n)
			}
		}
	}
}
