package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// forwardOp is a Forward of payload id to shard k's topic t.
func forwardOp(prefix string, k int, id string) session.Op {
	return session.Op{Kind: session.Forward, Forward: &session.Forwarded{
		Subject: fmt.Sprintf("%s.in.%d.t.a", prefix, k), Data: []byte(id), ID: "n1.boot." + id}}
}

// ingestMessages returns what ingest shard k's stream holds, in order.
func ingestMessages(t *testing.T, s *Store, k int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, IngestStream(s.Config().Prefix, k))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// payloads returns the Forwards' data a stream message holds: one, or a
// batch's entries.
func payloads(t *testing.T, m *jetstream.RawStreamMsg) []string {
	t.Helper()
	if !session.IsForwardBatch(m.Data) {
		return []string{string(m.Data)}
	}
	entries, err := session.SplitForwardBatch(m.Data)
	if err != nil {
		t.Fatalf("message %d on %s: %v", m.Sequence, m.Subject, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, string(e))
	}
	return out
}

// The Forwards of one Commit to one ingest shard are one stream message
// (decision 0061), on the shard's batch subject, their data in the order
// of the ops; a shard with one Forward in the Commit gets it alone on its
// topic's subject, under its own Msg-Id, as before. Before, each Forward
// was a message: 10 in shard 2.
func TestForwardsOfACommitToOneShardAreOneMessage(t *testing.T) {
	s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
	p := s.Config().Prefix
	var ops []session.Op
	for i := range 10 {
		ops = append(ops, forwardOp(p, 2, fmt.Sprintf("a%d", i)))
		if i%4 == 0 {
			ops = append(ops, forwardOp(p, 1, fmt.Sprintf("b%d", i)))
		}
	}
	ops = append(ops, forwardOp(p, 0, "c0"), session.Op{Kind: session.Position, Shard: 3, Seq: 5})
	if err := s.Commit(ops); err != nil {
		t.Fatal(err)
	}
	two := ingestMessages(t, s, 2)
	if len(two) != 1 {
		t.Fatalf("shard 2 holds %d messages for the Commit's 10 Forwards, want 1", len(two))
	}
	if got, want := strings.Join(payloads(t, two[0]), ","), "a0,a1,a2,a3,a4,a5,a6,a7,a8,a9"; got != want || two[0].Subject != p+".in.2.b" {
		t.Fatalf("shard 2: %q on %s, want %q on %s.in.2.b", got, two[0].Subject, want, p)
	}
	one := ingestMessages(t, s, 1)
	if len(one) != 1 || strings.Join(payloads(t, one[0]), ",") != "b0,b4,b8" {
		t.Fatalf("shard 1: %d messages, want one of b0,b4,b8", len(one))
	}
	zero := ingestMessages(t, s, 0)
	if len(zero) != 1 || string(zero[0].Data) != "c0" || zero[0].Subject != p+".in.0.t.a" || zero[0].Header.Get(jetstream.MsgIDHeader) != "n1.boot.c0" {
		t.Fatalf("shard 0: %d messages (%+v), want c0 alone as before", len(zero), zero)
	}
}

// A batch stays under the server's maximum payload: the Forwards of a
// shard that do not fit in one message go in the next, in order.
func TestABatchLargerThanTheChunkIsSplit(t *testing.T) {
	s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
	s.chunk = 1000 // the server's 1 MB less headers, scaled down
	p := s.Config().Prefix
	var ops []session.Op
	var want []string
	for i := range 30 {
		data := fmt.Sprintf("%03d%s", i, strings.Repeat("x", 97))
		want = append(want, data)
		op := forwardOp(p, 2, strconv.Itoa(i))
		op.Forward.Data = []byte(data)
		ops = append(ops, op)
	}
	if err := s.Commit(ops); err != nil {
		t.Fatal(err)
	}
	msgs := ingestMessages(t, s, 2)
	var got []string
	for _, m := range msgs {
		if len(m.Data) > s.chunk {
			t.Fatalf("message %d holds %d bytes, over the chunk %d", m.Sequence, len(m.Data), s.chunk)
		}
		got = append(got, payloads(t, m)...)
	}
	if len(msgs) < 3 || len(msgs) > 5 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d messages holding %d Forwards (in order: %v), want 3 to 5 holding the 30 in order",
			len(msgs), len(got), strings.Join(got, ",") == strings.Join(want, ","))
	}
}

// A Commit fails after one of its batches was stored (its acknowledgement
// lost, as when a stream's leader dies): the journal gives its ops again
// followed by new ones (decision 0059), which packed anew would be another
// batch and put the stored one's Forwards in the ingest twice. The store
// writes the failed Commit's batches again as they were (same Msg-Id: the
// stream drops the copy) and packs only the new Forwards: each is in the
// ingest once. Without the remembered batches: a0,a1,a2 twice.
func TestARetriedCommitWithMoreForwardsStoresEachOnce(t *testing.T) {
	for _, logged := range []bool{false, true} {
		t.Run(fmt.Sprintf("logged=%v", logged), func(t *testing.T) {
			s := openT(t, connect(t, runServer(t)), freshConfig("n1"))
			p := s.Config().Prefix
			first := []session.Op{forwardOp(p, 2, "a0"), forwardOp(p, 2, "a1"), forwardOp(p, 1, "b0"), forwardOp(p, 2, "a2"), forwardOp(p, 1, "b1")}
			if logged { // an inbound QoS 2 id lands with its Forward: through the commit log
				first = append(first, session.Op{Kind: session.PutInbound, Client: "c", PacketID: 1})
			}
			failed := false
			s.crash = func(stage string, i int) bool { // shard 2's batch stored, shard 1's not written
				if stage == "apply" && i == 1 && !failed {
					failed = true
					return true
				}
				return false
			}
			if err := s.Commit(first); err == nil || !failed {
				t.Fatalf("the first Commit returned %v (failed %v), want its second write failed", err, failed)
			}
			again := append(append([]session.Op(nil), first...), forwardOp(p, 2, "a3"), forwardOp(p, 1, "b2"), forwardOp(p, 2, "a4"))
			if err := s.Commit(again); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit([]session.Op{forwardOp(p, 2, "a5"), forwardOp(p, 2, "a6")}); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[int]string{2: "a0,a1,a2,a3,a4,a5,a6", 1: "b0,b1,b2"} {
				var got []string
				for _, m := range ingestMessages(t, s, k) {
					got = append(got, payloads(t, m)...)
				}
				if strings.Join(got, ",") != want {
					t.Errorf("shard %d holds %s, want %s: each Forward once, in order", k, strings.Join(got, ","), want)
				}
			}
		})
	}
}

// With SingleForwards (a rolling upgrade from a version whose readers
// take envelopes only), each Forward is a message of its own, as before.
func TestSingleForwardsWritesEachForwardAlone(t *testing.T) {
	cfg := freshConfig("n1")
	cfg.SingleForwards = true
	s := openT(t, connect(t, runServer(t)), cfg)
	p := s.Config().Prefix
	if err := s.Commit([]session.Op{forwardOp(p, 2, "a0"), forwardOp(p, 2, "a1"), forwardOp(p, 2, "a2")}); err != nil {
		t.Fatal(err)
	}
	msgs := ingestMessages(t, s, 2)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if session.IsForwardBatch(m.Data) || m.Header.Get(jetstream.MsgIDHeader) != fmt.Sprintf("n1.boot.a%d", i) {
			t.Fatalf("message %d: %q id %q, want a%d alone", i, m.Data, m.Header.Get(jetstream.MsgIDHeader), i)
		}
	}
}
