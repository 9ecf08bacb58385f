package takeover_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/session"
)

// halfMovedStore plays a store in which node-x died in the middle of
// applying its move of a session: the record's key is deleted (the
// DeleteSession's tombstone) until someone finishes node-x's last commit,
// which writes its PutSession.
type halfMovedStore struct {
	mu       sync.Mutex
	finished bool
	claims   []uint64 // expected revisions Claim was called with
}

func (s *halfMovedStore) Fetch(_ context.Context, client string) (takeover.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		return takeover.Held{}, fmt.Errorf("%q: %w", client, takeover.ErrNoSession)
	}
	rec := session.Record{Version: session.FormatVersion, ID: client, Expiry: 300, InboundQoS2: []uint16{7}}
	return takeover.Held{Record: rec, Node: "node-x", Revision: 5}, nil
}

func (s *halfMovedStore) Claim(_ context.Context, _ string, expected uint64, _ []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = append(s.claims, expected)
	return expected + 1, nil
}

func (s *halfMovedStore) Owned(context.Context, string) ([]string, error) { return nil, nil }

func (s *halfMovedStore) Owner(context.Context, string) (string, error) { return "node-x", nil }

func (s *halfMovedStore) FinishCommitsOf(_ context.Context, node string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = s.finished || node == "node-x"
	return nil
}

type members []node.Member

func (m members) Members() []node.Member { return m }

// A CONNECT that finds no session while a node is down finishes that
// node's last commit and looks again before it creates a fresh session:
// the dead node may have died between the tombstone and the PutSession of
// a move. Before, the client got a fresh session (session present 0) and
// its inbound QoS 2 ids were lost: a resent QoS 2 PUBLISH was taken for a
// new message.
func TestAConnectFinishesADeadNodesHalfAppliedMove(t *testing.T) {
	srv := runJetStream(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st := &halfMovedStore{}
	mv, err := takeover.New(takeover.Config{Conn: nc, Node: "node-a", Store: st, AdoptAfter: -1, Log: failureLog(t, "node-a"),
		Members: members{{Name: "node-a", Self: true, Up: true}, {Name: "node-x"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := mv.Acquire(tctx(t), "half", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Record == nil || len(got.Record.InboundQoS2) != 1 {
		t.Fatalf("acquired %+v: want node-x's session, whole, not a fresh one", got.Record)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.claims) != 1 || st.claims[0] != 5 {
		t.Fatalf("claims at revisions %v, want one at node-x's revision 5 (0 creates a fresh session)", st.claims)
	}
}

// liveOwnerStore has a session of node-x, which is up, and counts the
// replays of node-x's last commit.
type liveOwnerStore struct {
	halfMovedStore
	replays int
}

func (s *liveOwnerStore) Fetch(_ context.Context, client string) (takeover.Held, error) {
	rec := session.Record{Version: session.FormatVersion, ID: client, Expiry: 300}
	return takeover.Held{Record: rec, Node: "node-x", Revision: 5}, nil
}

func (s *liveOwnerStore) FinishCommitsOf(context.Context, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replays++
	return nil
}

// node-x is up and answers that it does not hold the session (it left it
// out of its load, or let it go before): the session is taken from the
// store, and node-x's last commit is not applied again. node-x applies its
// commits itself and goes on to the next; a replay landing after those
// undid them (TestFaultKill9 seed 1796102688678920922: a QoS 2 delivery
// whose flow was complete went back to its PUBLISH state, and the next
// owner sent it again).
func TestALiveOwnersCommitsAreNotAppliedAgain(t *testing.T) {
	srv := runJetStream(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe("plume.own."+subject.Token("node-x"), func(m *nats.Msg) { _ = m.Respond([]byte(`{"had":false}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes with the test
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	st := &liveOwnerStore{}
	mv, err := takeover.New(takeover.Config{Conn: nc, Node: "node-a", Store: st, AdoptAfter: -1, Log: failureLog(t, "node-a"),
		Members: members{{Name: "node-a", Self: true, Up: true}, {Name: "node-x", Up: true}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := mv.Acquire(tctx(t), "live", false, true)
	if err != nil || got.Record == nil {
		t.Fatalf("acquired %+v (%v), want node-x's session from the store", got.Record, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.replays != 0 {
		t.Fatalf("node-x's last commit applied again %d times while node-x is up", st.replays)
	}
}
