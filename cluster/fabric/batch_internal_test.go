package fabric

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// batchStream is one ingest shard, bt_IN0, on a JetStream of its own, that
// the test writes as store/jetstream would: single envelopes on their
// topics' subjects, forward batches on bt.in.0.b.
type batchStream struct {
	t     *testing.T
	url   string
	js    jetstream.JetStream
	codec *subject.Codec
}

func newBatchStream(t *testing.T) *batchStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, codec := oneShardStream(t, nc, "bt")
	return &batchStream{t: t, url: srv.ClientURL(), js: js, codec: codec}
}

// env is an inner message: origin node, its counter, topic and payload.
type env struct {
	origin  string
	counter uint64
	topic   string
	payload string
	leftMs  int64
	retain  bool
	props   *packets.Properties
}

func (e env) encode() []byte {
	m := &session.Message{Topic: e.topic, QoS: 1, Payload: []byte(e.payload), Publisher: "p", Retain: e.retain, Props: e.props}
	b := appendEnvelope(nil, m, originOf(e.origin), e.leftMs)
	setSeq(b, e.counter)
	return b
}

func (s *batchStream) publish(subj string, data []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.js.Publish(ctx, subj, data); err != nil {
		s.t.Fatal(err)
	}
}

// single writes e alone on its topic's subject, as before decision 0061.
func (s *batchStream) single(e env) {
	s.t.Helper()
	subj, err := s.codec.AppendTopic(nil, e.topic)
	if err != nil {
		s.t.Fatal(err)
	}
	s.publish(string(subj), e.encode())
}

// batch writes es as one forward batch; raw entries go in as they are.
func (s *batchStream) batch(es ...any) {
	s.t.Helper()
	var data [][]byte
	for _, e := range es {
		switch e := e.(type) {
		case env:
			data = append(data, e.encode())
		case []byte:
			data = append(data, e)
		}
	}
	s.publish(s.codec.Prefix()+batchToken, session.AppendForwardBatch(nil, data))
}

// routed is one RouteIngested call.
type routed struct {
	seq uint64
	ms  []*session.Message
}

func (r routed) payloads() string {
	var p []string
	for _, m := range r.ms {
		p = append(p, string(m.Payload))
	}
	return strings.Join(p, ",")
}

// recordingLocal is a broker that records what it routes. Until dead, its
// RouteIngested calls are what it committed; stopAt plays a crash: the
// call for that sequence never returns until the test lets it, and commits
// nothing, nor does any call after it.
type recordingLocal struct {
	from    session.Positions
	stopAt  uint64
	stopped chan struct{} // closed when the call for stopAt came
	release chan struct{}

	mu    sync.Mutex
	calls []routed
	dead  bool
	wake  chan struct{}
}

func newRecordingLocal(from session.Positions, stopAt uint64) *recordingLocal {
	return &recordingLocal{from: from, stopAt: stopAt, stopped: make(chan struct{}), release: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (*recordingLocal) RouteFromPeer(*session.Message) int                { return 0 }
func (*recordingLocal) RouteShared(*session.Message, string, string) bool { return false }
func (l *recordingLocal) Positions() session.Positions                    { return l.from }

func (l *recordingLocal) RouteIngested(_ uint32, seq uint64, ms ...*session.Message) int {
	if l.stopAt != 0 && seq == l.stopAt {
		close(l.stopped)
		<-l.release
		l.mu.Lock()
		l.dead = true
		l.mu.Unlock()
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dead {
		l.calls = append(l.calls, routed{seq: seq, ms: ms})
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return len(ms)
}

// awaitSeq waits until a call at seq (or later) was recorded, and returns
// the calls.
func (l *recordingLocal) awaitSeq(t *testing.T, seq uint64) []routed {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		l.mu.Lock()
		calls := append([]routed(nil), l.calls...)
		l.mu.Unlock()
		if len(calls) > 0 && calls[len(calls)-1].seq >= seq {
			return calls
		}
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("no message routed at %d; calls %v", seq, calls)
		}
	}
}

// startReader starts a fabric on the stream as node "here", routing into l.
// Each of before runs on the fabric before its consumers start, so that
// state it sets up cannot race the first read.
func (s *batchStream) startReader(l *recordingLocal, before ...func(*Fabric)) *Fabric {
	s.t.Helper()
	nc, err := nats.Connect(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	f, err := New(Config{Conn: nc, Prefix: "btf", Ingest: &IngestConfig{Prefix: "bt", Shards: 1, Node: "here"}})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, b := range before {
		b(f)
	}
	if err := f.Start(l); err != nil {
		s.t.Fatal(err)
	}
	return f
}

// The reader takes an old single envelope as before and a forward batch
// (decision 0061) as one routing: every message of it in one RouteIngested
// at the batch's sequence, so that the position commits with all their
// deliveries. This node's own messages in a batch are left out and read
// back (PendingOwn forgets them); an entry that does not decode is counted
// malformed, the others routed; expiry, retain and properties are carried
// as in a single envelope. Before, the batch was one malformed message:
// position only, its messages lost.
func TestReaderRoutesABatchAtItsSequenceAndSinglesAsBefore(t *testing.T) {
	s := newBatchStream(t)
	props := &packets.Properties{ContentType: "text/plain"}
	props.Set(packets.PropContentType)
	s.single(env{origin: "other", counter: 1, topic: "t/a", payload: "c1"})
	s.batch(env{origin: "other", counter: 3, topic: "t/a", payload: "c2", leftMs: 60_000},
		env{origin: "here", counter: 9, topic: "t/a", payload: "own"},
		env{origin: "other", counter: 2, topic: "u/b", payload: "c3", retain: true, props: props})
	s.batch(env{origin: "other", counter: 4, topic: "t/a", payload: "c4"}, []byte{9, 9, 9})
	s.single(env{origin: "other", counter: 5, topic: "t/a", payload: "c5"})

	l := newRecordingLocal(session.Positions{0}, 0)
	ownMsg := &session.Message{Topic: "t/a", Payload: []byte("own")}
	// As Forward did when it accepted it, before the batch could be read
	// back: kept after the read, it would stay pending (CI saw that).
	f := s.startReader(l, func(f *Fabric) { f.ing.keepUnread(9, ownMsg) })
	defer f.Close()

	calls := l.awaitSeq(t, 4)
	var got []string
	for _, c := range calls {
		got = append(got, c.payloads())
	}
	if len(calls) != 4 || strings.Join(got, "|") != "c1|c2,c3|c4|c5" || calls[1].seq != 2 || calls[2].seq != 3 {
		t.Fatalf("routed %q at %v; want c1 | c2,c3 (at 2) | c4 (at 3) | c5", got, calls)
	}
	c2, c3 := calls[1].ms[0], calls[1].ms[1]
	if c2.Expires == 0 || c3.Expires != 0 || !c3.Retain || c2.Retain || c3.Props == nil || c3.Props.ContentType != "text/plain" {
		t.Fatalf("c2 expires %d retain %v, c3 expires %d retain %v props %+v: expiry, retain and properties not carried per message",
			c2.Expires, c2.Retain, c3.Expires, c3.Retain, c3.Props)
	}
	if pending := f.PendingOwn(); len(pending) != 0 {
		t.Fatalf("own message in a batch still pending after it was read back: %v", pending)
	}
	st := f.Stats()
	if st.Batches != 2 || st.Own != 1 || st.Malformed != 1 || st.Ingested != 5 {
		t.Fatalf("stats %+v: want 2 batches, 1 own, 1 malformed entry, 5 ingested", st)
	}
}

// A reader that dies while it routes a batch (its journal change, which
// holds the batch's deliveries and its position, never committed) resumes
// at the position before the batch: it reads the batch again, whole, with
// DUP, and the subscriber gets every message of it; what was committed
// before it is not read again.
func TestAReaderKilledMidBatchReadsItAgainWhole(t *testing.T) {
	s := newBatchStream(t)
	s.single(env{origin: "other", counter: 1, topic: "t/a", payload: "c1"})
	s.batch(env{origin: "other", counter: 2, topic: "t/a", payload: "c2"},
		env{origin: "other", counter: 3, topic: "t/a", payload: "c3"},
		env{origin: "other", counter: 4, topic: "t/a", payload: "c4"})
	s.single(env{origin: "other", counter: 5, topic: "t/a", payload: "c5"})

	first := newRecordingLocal(session.Positions{0}, 2)
	f1 := s.startReader(first)
	select {
	case <-first.stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("the batch was never routed")
	}
	close(first.release) // the process dies: nothing of the batch committed
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	committed := first.calls
	if len(committed) != 1 || committed[0].seq != 1 {
		t.Fatalf("committed %v before the crash, want c1 at 1", committed)
	}

	second := newRecordingLocal(session.Positions{committed[0].seq}, 0)
	f2 := s.startReader(second)
	defer f2.Close()
	calls := second.awaitSeq(t, 3)
	seen := map[string]int{"c1": 1}
	for _, c := range calls {
		for _, m := range c.ms {
			seen[string(m.Payload)]++
			if seen[string(m.Payload)] > 1 && !m.Redelivered {
				t.Fatalf("%s routed twice, the second time without DUP", m.Payload)
			}
			if !m.Redelivered {
				t.Errorf("%s read again after the crash without DUP", m.Payload)
			}
		}
	}
	if len(calls) != 2 || calls[0].seq != 2 || calls[0].payloads() != "c2,c3,c4" || calls[1].payloads() != "c5" {
		t.Fatalf("after the restart routed %v, want c2,c3,c4 at 2 then c5", calls)
	}
	for _, p := range []string{"c1", "c2", "c3", "c4", "c5"} {
		if seen[p] != 1 {
			t.Fatalf("%s routed %d times, want once", p, seen[p])
		}
	}
}

// A catch-up reads batches whole (their subject matches no topic filter)
// and delivers the messages in them whose topic matches the session's
// filters, but the old owner's own, as it does single envelopes. Before,
// the batch was not read at all: c2 and c4 lost to the moved session.
func TestCatchUpFiltersTheMessagesOfABatch(t *testing.T) {
	f, sh, write := pausedIngest(t)
	write("other", 1, "c1") // topic t/x
	codec := f.ing.codecs[0]
	var data [][]byte
	for _, e := range []env{
		{origin: "other", counter: 2, topic: "t/y", payload: "c2"},
		{origin: "old", counter: 7, topic: "t/x", payload: "a1"},   // the old owner's: in the session already
		{origin: "other", counter: 3, topic: "u/x", payload: "d1"}, // not the session's
		{origin: "old", counter: 9, topic: "t/x", payload: "a2"},   // after its let-go: not in the session
		{origin: "other", counter: 4, topic: "t/x", payload: "c4"},
	} {
		data = append(data, e.encode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.ing.js.Publish(ctx, codec.Prefix()+batchToken, session.AppendForwardBatch(nil, data)); err != nil {
		t.Fatal(err)
	}
	write("other", 5, "c5")
	sh.pos.Store(3)
	var got []string
	err := f.CatchUp(ctx, session.Positions{0}, nil, Own{Node: "old", UpTo: 8}, func() []string { return []string{"t/#"} },
		func(m *session.Message) {
			if !m.Redelivered {
				t.Errorf("%s caught up without DUP", m.Payload)
			}
			got = append(got, string(m.Payload))
		})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "c1,c2,a2,c4,c5" {
		t.Fatalf("caught up %q, want c1,c2,a2,c4,c5", got)
	}
}
