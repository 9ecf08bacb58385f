package fabric_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/core/session"
)

// slowLocal is a broker that takes no ingested message until gate closes.
type slowLocal struct {
	gate chan struct{}
	mu   sync.Mutex
	got  []string
	seqs []uint64
}

func (l *slowLocal) RouteFromPeer(*session.Message) int                { return 0 }
func (l *slowLocal) RouteShared(*session.Message, string, string) bool { return false }
func (l *slowLocal) Positions() session.Positions                      { return nil }
func (l *slowLocal) RouteIngested(_ uint32, seq uint64, ms ...*session.Message) int {
	if len(ms) == 0 {
		return 0
	}
	<-l.gate
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		l.got = append(l.got, string(m.Payload))
		l.seqs = append(l.seqs, seq)
	}
	return len(ms)
}

func (l *slowLocal) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// A broker that takes nothing while a publisher writes far more than the
// consumer pulls ahead (256) loses nothing: the consumer asks for more only
// as the broker takes them, and the server keeps the rest.
func TestIngestWaitsForASlowBroker(t *testing.T) {
	nodes := startJSCluster(t, 3, "ps", false)
	nc, err := nats.Connect(nodes[0].srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	slow := &slowLocal{gate: make(chan struct{})}
	fab, err := fabric.New(fabric.Config{Conn: nc, Ingest: &fabric.IngestConfig{Prefix: "ps", Shards: 4, Node: "slow"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fab.Start(slow); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := fab.Close(); err != nil {
			t.Error(err)
		}
	}()

	js, err := jetstream.New(nodes[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var futs []jetstream.PubAckFuture
	for i := range n {
		fw, ok := nodes[0].fab.Forward(&session.Message{Topic: "s/t", QoS: 1, Payload: []byte(strconv.Itoa(i)), Publisher: "one"})
		if !ok {
			t.Fatal("not forwarded")
		}
		m := nats.NewMsg(fw.Subject)
		m.Data = fw.Data
		m.Header.Set(jetstream.MsgIDHeader, fw.ID)
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	close(slow.gate) // every message stored; the broker starts taking them
	eventually(t, fmt.Sprintf("%d messages routed", n), func() bool { return slow.count() >= n })
	slow.mu.Lock()
	defer slow.mu.Unlock()
	for i := range n {
		if slow.got[i] != strconv.Itoa(i) || (i > 0 && slow.seqs[i] <= slow.seqs[i-1]) {
			t.Fatalf("message %d: %q at seq %d: out of order or lost", i, slow.got[i], slow.seqs[i])
		}
	}
	if len(slow.got) != n {
		t.Fatalf("%d routed, want %d", len(slow.got), n)
	}
	if d := fab.Stats().Dropped; d != 0 {
		t.Fatalf("%d dropped", d)
	}
}
