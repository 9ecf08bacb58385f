package broker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// releasingTakeover hands a session over to a CONNECT, and, the moment it
// is installed and before the CONNECT attaches to it, has another node ask
// this one to let go of it again (Release): two CONNECTs of one client on
// two nodes, racing.
type releasingTakeover struct {
	b        *broker.Broker
	waiting  chan struct{} // Release waits for the CONNECT to attach
	released chan error
}

func (f *releasingTakeover) Acquire(ctx context.Context, client string, _, _ bool) (broker.Acquired, error) {
	rec := &session.Record{Version: session.FormatVersion, ID: client, Expiry: 300,
		Subscriptions: []session.Subscription{{Subscription: packets.Subscription{Filter: "t/#", QoS: 1}}}}
	return broker.Acquired{Record: rec, CatchUp: func(install func() []string, _ func(*session.Message, bool)) error {
		install()
		go func() {
			had, err := f.b.Release(context.Background(), client, false, nil)
			if err == nil && !had {
				err = errNotHad
			}
			f.released <- err
		}()
		// Return once Release either waits for the attach or has let go
		// of the entry already (what it did before it waited).
		for {
			select {
			case <-f.waiting:
				return nil
			case err := <-f.released:
				f.released <- err
				return nil
			case <-time.After(time.Millisecond):
			}
		}
	}}, nil
}

// Owns: the sessions here are this node's (the test has one node).
func (f *releasingTakeover) Owns(context.Context, string, bool) (bool, error) { return true, nil }

type notHad string

func (e notHad) Error() string { return string(e) }

const errNotHad = notHad("release: the session was not here")

// A session taken over from another node and let go again before its
// CONNECT attached: Release waits for the attach and closes the connection
// with 0x8E, rather than dropping the entry under it — which left the
// client connected to a fresh session here while the asking node resumed
// the old one (TestTwoNodesRacingForOneClient: "no probe reached the
// subscriber").
func TestReleaseOfASessionBeingTakenOverWaitsForItsConnection(t *testing.T) {
	f := &releasingTakeover{waiting: make(chan struct{}, 1), released: make(chan error, 1)}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Takeover: f})
	f.b = tb.Broker
	broker.SetReleaseWaits(tb.Broker, func() { f.waiting <- struct{}{} })

	cp := v5Connect("racer")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 300
	cp.Properties.Set(packets.PropSessionExpiry)
	c, ack := connectRaw(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session present 0: the taken-over session was dropped before the CONNECT attached")
	}
	c.expectDisconnect(packets.SessionTakenOver)
	select {
	case err := <-f.released:
		if err != nil {
			t.Fatalf("Release: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Release did not return")
	}
}

// storeReadingTakeover records, when a CONNECT asks it for a session, what
// the store then holds of it: the cut its last state carries, if any.
type storeReadingTakeover struct {
	store    session.Store
	acquired chan []byte // Record.Carried as the store had it (nil: none)
}

func (f *storeReadingTakeover) Acquire(_ context.Context, client string, _, _ bool) (broker.Acquired, error) {
	snap, err := f.store.Load()
	if err != nil {
		return broker.Acquired{}, err
	}
	var carried []byte
	for _, r := range snap.Sessions {
		if r.ID == client {
			carried = r.Carried
		}
	}
	f.acquired <- carried
	return broker.Acquired{}, nil
}

func (f *storeReadingTakeover) Owns(context.Context, string, bool) (bool, error) { return true, nil }

// A node that let a session go without its last state committed in time
// (the store slow) does not take it back from the store before that state
// — with the cut it carries — is committed: read earlier, the store's copy
// has no cut, and a catch-up from this node's committed positions skips
// the messages it accepted after the cut as its own (TestFaultKill9 seed
// 1796090657374635515: s3 lost one).
func TestACONNECTWaitsForTheLastStateOfASessionThisNodeLetGo(t *testing.T) {
	store := newGateStore(t)
	f := &storeReadingTakeover{store: store, acquired: make(chan []byte, 1)}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store, Takeover: f})
	keptSubscriber(t, tb.addr, "x", "t/#", 1)
	<-f.acquired // its first CONNECT's

	store.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if had, err := tb.Release(ctx, "x", false, func() []byte { return []byte("the cut") }); !had || err == nil {
		t.Fatalf("Release with the store held back: had %v, %v; want the session let go, its last state not committed in time", had, err)
	}
	cp := v5Connect("x")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 300
	cp.Properties.Set(packets.PropSessionExpiry)
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		if c, _ := connectRaw(t, tb.addr, cp); c != nil {
			c.disconnect(packets.Success)
		}
	}()
	// Asked while the store is held back, the takeover reads no cut.
	select {
	case carried := <-f.acquired:
		t.Fatalf("the CONNECT read the store (cut %q) before the session's last state was committed", carried)
	case <-time.After(500 * time.Millisecond):
	}
	store.open()
	select {
	case carried := <-f.acquired:
		if string(carried) != "the cut" {
			t.Fatalf("the CONNECT read the session with cut %q, want the one its last state carries", carried)
		}
	case <-time.After(wait):
		t.Fatal("the CONNECT never asked for the session")
	}
	<-connected
}

// A let-go whose last state is committed later is forgotten once another
// let-go times out: a client that never comes back here does not keep
// its entry for good.
func TestCommittedLetGosAreForgotten(t *testing.T) {
	store := newGateStore(t)
	f := &storeReadingTakeover{store: store, acquired: make(chan []byte, 2)}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store, Takeover: f})
	keptSubscriber(t, tb.addr, "x", "t/#", 1)
	keptSubscriber(t, tb.addr, "y", "t/#", 1)
	release := func(id string) {
		t.Helper()
		store.close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if had, err := tb.Release(ctx, id, false, func() []byte { return []byte("cut") }); !had || err == nil {
			t.Fatalf("Release of %s with the store held back: had %v, %v", id, had, err)
		}
		store.open()
	}
	release("x")
	if got := broker.Released(tb.Broker); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("let go without a commit: %v, want [x]", got)
	}
	if !broker.WaitCommitted(tb.Broker, wait) {
		t.Fatal("the journal did not commit once the store opened")
	}
	release("y")
	if got := broker.Released(tb.Broker); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("after x's let-go was committed and y's was not: %v, want [y]", got)
	}
}
