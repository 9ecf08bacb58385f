package jetstream

import (
	"context"
	"errors"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// A node finishing a dead node's commit reads the commit's sessions, then
// writes; the dead node may come back in between, apply the commit itself
// and go on writing the session. The late replay must leave that session
// alone. Before, its tombstone and purge landed after the restarted
// node's writes: the session was put back to the commit's state, and the
// deliveries written since were purged (in a fault run the replay died
// between its tombstone and its put, and the next CONNECT found no
// session).
func TestAReplayLeavesASessionItsNodeWroteSince(t *testing.T) {
	n1, n2 := halfMoved(t)
	ctx := context.Background()
	read, proceed := make(chan struct{}), make(chan struct{})
	n2.crash = func(stage string, _ int) bool {
		if stage == "replay-read" {
			close(read)
			<-proceed
		}
		return false
	}
	finished := make(chan error, 1)
	go func() { finished <- n2.FinishCommitsOf(ctx, "n1") }()
	<-read

	// n1 comes back: its Open applies the commit, then it writes on.
	back := openT(t, n1.nc, n1.cfg)
	later := &session.Message{Topic: "t/moved", Payload: []byte("later"), QoS: 1, ID: 6}
	if err := back.Commit([]session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "moved", Expiry: 77}},
		{Kind: session.PutMessage, Message: later},
		{Kind: session.PutDelivery, Client: "moved", Delivery: session.Delivery{Msg: later, QoS: 1, Seq: 2}},
	}); err != nil {
		t.Fatal(err)
	}

	close(proceed)
	if err := <-finished; err != nil {
		t.Fatalf("the late replay: %v", err)
	}
	h, err := n2.Fetch(ctx, "moved")
	if err != nil {
		t.Fatalf("after the late replay: %v", err)
	}
	if h.Node != "n1" || h.Record.Expiry != 77 || len(h.Record.Queued) != 2 {
		t.Fatalf("session of %q, expiry %d, %d queued; want n1's later write: expiry 77, both deliveries", h.Node, h.Record.Expiry, len(h.Record.Queued))
	}
}

// Two nodes finishing one dead node's commit at once both read it before
// either writes. The first writes the move's tombstone and dies; the
// second's tombstone is then refused, on the revision it read. It is the
// same tombstone, of the same commit: the second takes it as its own and
// writes the rest. Left out instead, the session would stay deleted.
func TestAReplayTakesTheSameWriteOfAnotherAsItsOwn(t *testing.T) {
	n1, n2 := halfMoved(t)
	cfg := n1.cfg
	cfg.Node = "n3"
	n3 := openT(t, n1.nc, cfg)
	ctx := context.Background()
	hold := func(s *Store, crashAt int) (read, proceed chan struct{}) {
		read, proceed = make(chan struct{}), make(chan struct{})
		s.crash = func(stage string, i int) bool {
			switch {
			case stage == "replay-read":
				close(read)
				<-proceed
			case stage == "apply" && i == crashAt:
				return true
			}
			return false
		}
		return read, proceed
	}
	read2, proceed2 := hold(n2, 1) // dies after the tombstone
	read3, proceed3 := hold(n3, -1)
	finished2, finished3 := make(chan error, 1), make(chan error, 1)
	go func() { finished2 <- n2.FinishCommitsOf(ctx, "n1") }()
	go func() { finished3 <- n3.FinishCommitsOf(ctx, "n1") }()
	<-read2
	<-read3

	close(proceed2)
	if err := <-finished2; !errors.Is(err, errCrashed) {
		t.Fatalf("n2's replay: %v, want its crash after the tombstone", err)
	}
	if _, err := n3.Fetch(ctx, "moved"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("n2 died after its tombstone: Fetch %v, want ErrNoSession", err)
	}
	close(proceed3)
	if err := <-finished3; err != nil {
		t.Fatalf("n3's replay: %v", err)
	}
	h, err := n3.Fetch(ctx, "moved")
	if err != nil {
		t.Fatalf("after n3's replay: %v", err)
	}
	if h.Node != "n1" || h.Record.Expiry != 60 || len(h.Record.Queued) != 1 {
		t.Fatalf("session of %q, expiry %d, %d queued; want n1's commit: expiry 60, its delivery", h.Node, h.Record.Expiry, len(h.Record.Queued))
	}
}
