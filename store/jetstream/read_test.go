package jetstream

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// seenMsg is a message as a read's consumer delivers it.
type seenMsg struct {
	jetstream.Msg // not called: only the subject and headers are
	subject       string
	header        nats.Header
}

func (m seenMsg) Subject() string      { return m.subject }
func (m seenMsg) Headers() nats.Header { return m.header }

// A replica that lags delivers a message and then, once it applies them,
// the later writes of the same subject: a read keeps the last of each
// subject, and drops a subject whose last write is a tombstone. This is
// the order a read through a restarted node's replica saw: a QoS 2
// delivery before its PUBREC (seq 100), then its deletion (160). Taken
// one by one, the delivery came back.
func TestAReadKeepsEachSubjectsLastWriteOnly(t *testing.T) {
	put := func(subject string) seenMsg { return seenMsg{subject: subject, header: nats.Header{}} }
	del := func(subject string) seenMsg {
		return seenMsg{subject: subject, header: nats.Header{kvOperation: []string{"DEL"}}}
	}
	var l lastOfEach
	l.see(put("d.1"), 100) // sent, before its PUBREC
	l.see(put("d.2"), 110)
	l.see(put("d.3"), 120)
	l.see(del("d.1"), 160) // completed: deleted
	l.see(put("d.2"), 170) // released
	l.see(put("d.3"), 115) // an older write delivered late never wins
	var got []string
	var seqs []uint64
	if err := l.each(func(m jetstream.Msg) error {
		got = append(got, m.Subject())
		seqs = append(seqs, l[m.Subject()].seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"d.3", "d.2"}) || !slices.Equal(seqs, []uint64{120, 170}) {
		t.Fatalf("read %v at %v; want d.3 at 120 and d.2 at 170, in stream order, and not the deleted d.1", got, seqs)
	}
}

// A purge leaves no message; its marker (purge.go) does: a read drops the
// client's messages from before the marker, as a replica that lags
// delivers them before it applies the purge, and keeps what was written
// after it and every other client's.
func TestAReadDropsWhatAPurgeRemoved(t *testing.T) {
	n := newNames("p", "node-a", 4)
	marker := seenMsg{subject: n.purgeMarker("c1"), header: nats.Header{}}
	markPurge(&nats.Msg{Header: marker.header})
	put := func(subject string) seenMsg { return seenMsg{subject: subject, header: nats.Header{}} }
	var l lastOfEach
	l.see(put(n.deliverySubject("c1", 1)), 100) // before the purge
	l.see(put(n.inboundSubject("c1", 7)), 101)  // before the purge
	l.see(put(n.deliverySubject("c2", 1)), 102) // another client's
	l.see(marker, 150)                          // the purge's marker
	l.see(put(n.deliverySubject("c1", 2)), 160) // written after it
	l.see(put(n.messageSubject(n.node, 5)), 90) // a message: nobody's
	var got []string
	if err := l.each(func(m jetstream.Msg) error { got = append(got, m.Subject()); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{n.messageSubject(n.node, 5), n.deliverySubject("c2", 1), n.deliverySubject("c1", 2)}
	if !slices.Equal(got, want) {
		t.Fatalf("read %v; want %v", got, want)
	}
	if got := clientPrefixOf(n.deliverySubject("c1", 2)); got != n.clientPrefix("c1") {
		t.Fatalf("client prefix of a delivery: %q, want %q", got, n.clientPrefix("c1"))
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
