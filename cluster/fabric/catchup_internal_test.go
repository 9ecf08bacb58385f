package fabric

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/ratelog"
	"github.com/plumemq/plume/core/session"
)

// pausedIngest is a one-shard ingest on a JetStream of its own whose
// consumer the test plays: nothing reads the stream, the test sets the
// shard's position as routing would.
func pausedIngest(t *testing.T) (*Fabric, *shard, func(origin string, counter uint64, payload string)) {
	f, sh, write, _ := pausedIngestRestartable(t)
	return f, sh, write
}

// pausedIngestRestartable is pausedIngest with a bounce of its server: it
// shuts down, and starts again on the same port and data after down.
func pausedIngestRestartable(t *testing.T) (*Fabric, *shard, func(origin string, counter uint64, payload string), func(down time.Duration)) {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	var mu sync.Mutex
	current := srv
	t.Cleanup(func() { mu.Lock(); current.Shutdown(); mu.Unlock() })
	bounce := func(down time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		port := current.Addr().(*net.TCPAddr).Port
		current.Shutdown()
		o := *opts
		o.Port = port
		next, err := server.NewServer(&o)
		if err != nil {
			t.Error(err)
			return
		}
		current = next
		go func() {
			time.Sleep(down) // the read fails meanwhile
			next.Start()
		}()
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(-1)) // a request while the server is down fails at once
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, codec := oneShardStream(t, nc, "cu")
	sh := &shard{k: 0, stream: "cu_IN0"}
	f := &Fabric{warn: ratelog.New(time.Minute, 1, func(string, uint64) {}), ing: &ingest{cfg: IngestConfig{Prefix: "cu", Shards: 1, Node: "here", Pull: 16}, js: js,
		codecs: []*subject.Codec{codec}, shards: []*shard{sh}}}
	write := func(origin string, counter uint64, payload string) {
		t.Helper()
		writeTopic(t, f, "t/x", origin, counter, payload)
	}
	return f, sh, write, bounce
}

// writeTopic writes one message of topic to shard 0 of f's ingest, as
// node origin's counter-th.
func writeTopic(t *testing.T, f *Fabric, topic, origin string, counter uint64, payload string) {
	t.Helper()
	m := &session.Message{Topic: topic, QoS: 2, Payload: []byte(payload), Publisher: "p"}
	subj, err := f.ing.codecs[0].AppendTopic(nil, m.Topic)
	if err != nil {
		t.Fatal(err)
	}
	env := appendEnvelope(nil, m, originOf(origin), 0)
	setSeq(env, counter)
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.ing.js.Publish(pctx, string(subj), env); err != nil {
		t.Fatal(err)
	}
}

// A session moves here from node "old", which put its own messages 2 and 3
// in the session as it accepted them (decision 0056) and let go (or died):
// they are in the ingest, beyond both nodes' positions (this node has
// routed message 1 only). Installed now, the session would get 2 and 3
// again from this node's live routing — without DUP, so a QoS 2 message
// twice (TestFaultKill9, seed 1796056886957813969: s3 moved off a killed
// n3 got n1's messages from its stored queue and again from the catch-up).
// CatchUp waits until this node has routed up to the stream's end: then
// the range holds them, and own skips them.
func TestCatchUpWaitsForTheOldOwnersMessagesBeyondThisNodesPosition(t *testing.T) {
	f, sh, write := pausedIngest(t)
	write("other", 1, "c1")
	write("old", 7, "a1")
	write("old", 8, "a2")
	sh.pos.Store(1)
	own := Own{Node: "old", UpTo: 8}

	installed := false
	install := func() []string { installed = true; return []string{"t/#"} }
	var got []string
	deliver := func(m *session.Message) {
		if !m.Redelivered {
			t.Errorf("%q caught up without DUP", m.Payload)
		}
		got = append(got, string(m.Payload))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := f.CatchUp(ctx, session.Positions{0}, nil, own, install, deliver)
	if installed || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("installed %v at position 1 of 3 (got %q, err %v): live routing would deliver a1, a2 again; want no install and the wait's end", installed, got, err)
	}

	sh.pos.Store(3) // this node's consumer routed 2 and 3 (to no one: the session was not here)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := f.CatchUp(ctx2, session.Positions{0}, nil, own, install, deliver); err != nil {
		t.Fatal(err)
	}
	if !installed || strings.Join(got, ",") != "c1" {
		t.Fatalf("installed %v, caught up %q; want installed and c1 only (a1, a2 are the old owner's, in the session)", installed, got)
	}
}

// The catch-up's read fails after the session is installed (its JetStream
// server went away; back a moment later): it reads again from where it
// stopped, rather than leave the session installed without the rest of its
// range — which its client, refused, would then resume here (TestFaultKill9
// seed 1796056886957813969: s2 refused by n3 on "catch-up on plume_IN4: no
// responders", then resumed there, lost what the range held).
func TestCatchUpReadsAgainAfterAFailure(t *testing.T) {
	f, sh, write, bounce := pausedIngestRestartable(t)
	write("other", 1, "c1")
	write("other", 2, "c2")
	sh.pos.Store(2)
	var got []string
	install := func() []string {
		bounce(300 * time.Millisecond) // the range is read while the server is down
		return []string{"t/#"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := f.CatchUp(ctx, session.Positions{0}, nil, Own{}, install, func(m *session.Message) { got = append(got, string(m.Payload)) })
	if err != nil || strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("caught up %q (err %v), want c1,c2 once the server is back", got, err)
	}
}

// The server stays down past the CONNECT's deadline (a stream whose leader
// was killed, electing another): CatchUp returns with the session
// installed, and the rest of the range arrives once the server is back,
// after newer messages rather than never (TestFaultKill9 seed
// 1796080832879662629: s1 lost 66 messages).
func TestCatchUpPastItsDeadlineDeliversTheRestLater(t *testing.T) {
	f, sh, write, bounce := pausedIngestRestartable(t)
	write("other", 1, "c1")
	write("other", 2, "c2")
	sh.pos.Store(2)
	got := make(chan string, 4)
	install := func() []string {
		bounce(2 * time.Second) // longer than the catch-up's deadline
		return []string{"t/#"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := f.CatchUp(ctx, session.Positions{0}, nil, Own{}, install, func(m *session.Message) { got <- string(m.Payload) }); err != nil {
		t.Fatalf("CatchUp: %v, want the session installed and the rest read later", err)
	}
	var all []string
	for len(all) < 2 {
		select {
		case p := <-got:
			all = append(all, p)
		case <-time.After(30 * time.Second):
			t.Fatalf("caught up %q, want c1,c2 once the server is back", all)
		}
	}
	if strings.Join(all, ",") != "c1,c2" {
		t.Fatalf("caught up %q, want c1,c2", all)
	}
	f.wg.Wait()
}

// oneShardStream creates shard 0's ingest stream of prefix, PREFIX_IN0 on
// PREFIX.in.0.>, on nc, and returns it with that shard's subject codec.
func oneShardStream(t *testing.T, nc *nats.Conn, prefix string) (jetstream.JetStream, *subject.Codec) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: prefix + "_IN0", Subjects: []string{prefix + ".in.0.>"}}); err != nil {
		t.Fatal(err)
	}
	codec, err := subject.New(prefix + ".in.0")
	if err != nil {
		t.Fatal(err)
	}
	return js, codec
}

// laggingConsumer reads the stream as a replica that has it up to last
// only: the replica of a node whose server is still catching up after a
// restart, which nats-server may put a catch-up's consumer on.
type laggingConsumer struct {
	jetstream.Consumer
	last uint64
}

func (c laggingConsumer) FetchNoWait(n int) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.FetchNoWait(n)
	if err != nil {
		return nil, err
	}
	held := make(chan jetstream.Msg, n)
	for m := range b.Messages() {
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream <= c.last {
			held <- m
		}
	}
	close(held)
	return heldBatch{held, b.Error()}, nil
}

type heldBatch struct {
	msgs chan jetstream.Msg
	err  error
}

func (b heldBatch) Messages() <-chan jetstream.Msg { return b.msgs }
func (b heldBatch) Error() error                   { return b.err }

// lagFirst makes f's first catch-up consumer read a replica that has the
// stream up to last only, and counts the consumers made.
func lagFirst(f *Fabric, last uint64) *atomic.Int32 {
	var made atomic.Int32
	f.ing.consumerForTest = func(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
		c, err := f.ing.js.OrderedConsumer(ctx, stream, cfg)
		if err != nil || made.Add(1) > 1 {
			return c, err
		}
		return laggingConsumer{c, last}, nil
	}
	return &made
}

// The catch-up's consumer lands on a replica that lags: it has the range
// up to message 1 of 4. The read must not end there as if nothing more
// matched (TestFaultKill9 seed 1796096636821462122: s2 lost the 60
// messages accepted in the second before its move). The message at the
// range's end (here of a topic the session does not take) tells a read
// that has it all from one that stopped short, which reads again.
func TestCatchUpReadsAgainFromAReplicaThatLags(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(map[bool]string{true: "end routed here", false: "end from the store"}[known], func(t *testing.T) {
			f, sh, write := pausedIngest(t)
			write("other", 1, "c1")
			write("other", 2, "c2")
			write("other", 3, "c3")
			writeTopic(t, f, "u/other", "other", 4, "u")
			sh.pos.Store(4)
			if known {
				sh.posSubject = "cu.in.0.t.u.other" // as the consumer routed it
			}
			made := lagFirst(f, 1)
			var got []string
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := f.CatchUp(ctx, session.Positions{0}, nil, Own{}, func() []string { return []string{"t/#"} },
				func(m *session.Message) { got = append(got, string(m.Payload)) })
			if err != nil || strings.Join(got, ",") != "c1,c2,c3" {
				t.Fatalf("caught up %q (err %v), want c1,c2,c3: the lagging replica's read ended at c1", got, err)
			}
			if made.Load() < 2 {
				t.Fatalf("%d consumers made, want the range read again", made.Load())
			}
		})
	}
}

// The message at the range's end left the stream (the replay window):
// nothing then tells a short read from a whole one, and the catch-up
// delivers what it read rather than read again until its deadline.
func TestCatchUpWhoseEndIsGoneDeliversWhatItRead(t *testing.T) {
	f, sh, write := pausedIngest(t)
	write("other", 1, "c1")
	writeTopic(t, f, "u/other", "other", 2, "u")
	sh.pos.Store(2)
	sh.posSubject = "cu.in.0.t.u.other"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := f.ing.js.Stream(ctx, "cu_IN0")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var got []string
	start := time.Now()
	err = f.CatchUp(ctx, session.Positions{0}, nil, Own{}, func() []string { return []string{"t/#"} },
		func(m *session.Message) { got = append(got, string(m.Payload)) })
	if err != nil || strings.Join(got, ",") != "c1" {
		t.Fatalf("caught up %q (err %v), want c1", got, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the catch-up read until its deadline (%s)", time.Since(start))
	}
}

// A session subscribed to "t/#" and "t/x" makes subjects that nats-server
// refuses in one consumer (10138: filters that overlap). Its catch-up
// must read its range all the same.
func TestCatchUpOverOverlappingFilters(t *testing.T) {
	f, sh, write := pausedIngest(t)
	write("other", 1, "c1")
	write("other", 2, "c2")
	sh.pos.Store(2)
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.CatchUp(ctx, session.Positions{0}, nil, Own{}, func() []string { return []string{"t/#", "t/x", "t/+"} },
		func(m *session.Message) { got = append(got, string(m.Payload)) })
	if err != nil || strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("caught up %q (err %v), want c1,c2", got, err)
	}
	f.wg.Wait()
}
