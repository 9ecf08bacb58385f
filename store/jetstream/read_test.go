package jetstream

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// lagging plays what a read through a replica that lags delivers: each
// write of a subject as the replica applies it, earlier ones first.
type lagging struct {
	t *testing.T
	s *Store
	a *assembly
}

func (l lagging) record(client, owner string) {
	l.t.Helper()
	v, err := codec.AppendRecord(appendString(nil, owner), &session.Record{Version: session.FormatVersion, ID: client, Expiry: 60})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.a.session(l.s, l.s.names.sessionSubject(client), v, nats.Header{}, false); err != nil {
		l.t.Fatal(err)
	}
}

func (l lagging) queue(subject string, data []byte, h nats.Header) {
	l.t.Helper()
	stem := l.s.names.prefix + ".q.0." // one shard: every subject's
	if err := l.a.queued(strings.TrimPrefix(subject, stem), data, h); err != nil {
		l.t.Fatal(err)
	}
}

func (l lagging) delivery(seq uint64, id uint16, msgID uint64) {
	l.t.Helper()
	m := &session.Message{ID: msgID}
	l.queue(l.s.names.deliverySubject("c1", seq),
		codec.AppendDelivery(appendString(nil, l.s.cfg.Node), &session.Delivery{Msg: m, QoS: 2, PacketID: id, Seq: seq}), nats.Header{})
}

func (l lagging) message(id uint64) {
	l.t.Helper()
	v, err := codec.AppendMessage(nil, &session.Message{Topic: "t", Payload: []byte("m"), QoS: 2, ID: id})
	if err != nil {
		l.t.Fatal(err)
	}
	l.queue(l.s.names.messageSubject(l.s.names.node, id), v, nats.Header{})
}

func deleted() nats.Header { return nats.Header{kvOperation: []string{"DEL"}} }

func newLagging(t *testing.T) lagging {
	return lagging{t: t, s: &Store{cfg: Config{Node: "node-a", Shards: 1}, names: newNames("p", "node-a", 1)}, a: newAssembly()}
}

// A replica that lags delivers a message and then, once it applies them,
// the later writes of the same subject: the read takes each subject's last
// write, and a tombstone removes what came before it. This is the order a
// read through a restarted node's replica saw: a QoS 2 delivery before its
// PUBREC, then its deletion once completed. Taken one by one, the delivery
// came back, and the next owner sent it again.
func TestAReadKeepsEachSubjectsLastWriteOnly(t *testing.T) {
	l := newLagging(t)
	l.record("c1", "node-a")
	l.message(7)
	l.message(8)
	l.delivery(1, 10, 7) // sent, before its PUBREC
	l.delivery(2, 11, 8) // sent
	l.queue(l.s.names.inboundSubject("c1", 3), []byte{}, nats.Header{})
	l.queue(l.s.names.deliverySubject("c1", 1), nil, deleted()) // completed
	l.queue(l.s.names.messageSubject(l.s.names.node, 7), nil, deleted())
	l.queue(l.s.names.inboundSubject("c1", 3), nil, deleted()) // released
	l.delivery(2, 12, 8)                                       // written again
	recs, err := l.a.records("node-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || len(recs[0].Inflight) != 1 || len(recs[0].Queued) != 0 || len(recs[0].InboundQoS2) != 0 {
		t.Fatalf("read %+v; want one session with the one delivery left, and no inbound id", recs)
	}
	if d := recs[0].Inflight[0]; d.Seq != 2 || d.PacketID != 12 || d.Msg == nil || d.Msg.ID != 8 {
		t.Fatalf("the delivery left: %+v; want seq 2 as last written (packet id 12, message 8)", d)
	}
	// The session record: a later write by another node, or a tombstone,
	// drops the copy an earlier write of this node's gave.
	l.record("c1", "node-b")
	if recs, _ := l.a.records("node-a", false); len(recs) != 0 {
		t.Fatalf("read %+v after another node's write of the record; want none of node-a's", recs)
	}
}

// A purge leaves no message; its marker (purge.go) does: a read drops the
// client's messages read before the marker, which a replica that lags
// delivers before it applies the purge, and keeps what was written after
// it.
func TestAReadDropsWhatAPurgeRemoved(t *testing.T) {
	l := newLagging(t)
	l.record("c1", "node-a")
	l.message(7)
	l.message(8)
	l.delivery(1, 10, 7) // before the purge
	l.queue(l.s.names.inboundSubject("c1", 3), []byte{}, nats.Header{})
	marker := nats.Header{}
	markPurge(&nats.Msg{Header: marker})
	l.queue(l.s.names.purgeMarker("c1"), nil, marker)
	l.delivery(2, 11, 8) // written after it
	recs, err := l.a.records("node-a", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || len(recs[0].Inflight) != 1 || recs[0].Inflight[0].Seq != 2 || len(recs[0].InboundQoS2) != 0 {
		t.Fatalf("read %+v; want only the delivery written after the purge", recs)
	}
}

// A DeleteSession leaves its purge's marker behind, and a session created
// again afterwards under the same id reads whole: the marker drops only
// what came before it. (What it is for, a replica that lags delivering
// purged messages, TestAReadDropsWhatAPurgeRemoved plays.)
func TestAPurgeLeavesAMarkerThatKeepsLaterWrites(t *testing.T) {
	srv := runServer(t)
	a, _ := twoNodesOn(t, srv)
	ctx := context.Background()
	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit([]session.Op{{Kind: session.DeleteSession, Client: "c"}}); err != nil {
		t.Fatal(err)
	}
	m, err := a.lastOf(ctx, a.names.queueStream(a.names.shardOf("c")), a.names.purgeMarker("c"))
	if err != nil || m.Header.Get(hdrPurged) == "" || !tombstone(m.Header) {
		t.Fatalf("purge marker %+v (%v): want one, read as a tombstone by earlier versions", m, err)
	}
	if err := a.Commit(withQueue("c", 2)); err != nil {
		t.Fatal(err)
	}
	h, err := a.Fetch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Record.Queued) != 1 || len(h.Record.Inflight) != 1 || len(h.Record.InboundQoS2) != 1 || h.Record.Queued[0].Msg.ID != 2 {
		t.Fatalf("the session created again: %d queued, %d in flight, %d inbound ids; want its one of each, of message 2",
			len(h.Record.Queued), len(h.Record.Inflight), len(h.Record.InboundQoS2))
	}
}
