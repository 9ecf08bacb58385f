package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// A done marker whose asynchronous write failed, and whose synchronous
// rewrite failed as well (a stream without a leader, just after a node of
// the cluster died), must not wedge the store: once JetStream answers again,
// the next Commit succeeds. The marker's future gives its error once; a
// Commit that waited on it again waited out its whole deadline, and so did
// every later one (the kill -9 fault test in test/cluster saw a node fail
// every commit for minutes after the others had re-formed).
func TestFailedDoneMarkerDoesNotWedgeLaterCommits(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("n1")
	cfg.Timeout = 2 * time.Second
	s := openT(t, nc, cfg)
	first, _ := crashOps()
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	if s.undone == 0 {
		t.Fatal("a logged Commit left no done marker to settle")
	}
	// The marker's write failed, and JetStream refuses the next publish.
	s.done = failedFuture(errors.New("nats: no response from stream (test)"))
	real := s.js
	s.js = &refusingJS{JetStream: real, refuse: 1}
	later := []session.Op{{Kind: session.DeleteDelivery, Client: "old", Seq: 1}}
	if err := s.Commit(later); err == nil {
		t.Fatal("a Commit whose done marker could not be written succeeded")
	}
	// JetStream answers again: the marker is written, then the Commit.
	began := time.Now()
	if err := s.Commit(later); err != nil {
		t.Fatalf("with JetStream answering again, a Commit failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
	}
}

// failedFuture is a publish acknowledgement that failed with err: its Err
// channel gives err once, as nats.go's does.
func failedFuture(err error) jetstream.PubAckFuture {
	f := &errFuture{errs: make(chan error, 1), oks: make(chan *jetstream.PubAck)}
	f.errs <- err
	return f
}

type errFuture struct {
	errs chan error
	oks  chan *jetstream.PubAck
}

func (f *errFuture) Ok() <-chan *jetstream.PubAck { return f.oks }
func (f *errFuture) Err() <-chan error            { return f.errs }
func (f *errFuture) Msg() *nats.Msg               { return nil }

// refusingJS fails the next refuse synchronous publishes.
type refusingJS struct {
	jetstream.JetStream
	refuse int
}

func (r *refusingJS) Publish(ctx context.Context, subj string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if r.refuse > 0 {
		r.refuse--
		return nil, errors.New("nats: no response from stream (test)")
	}
	return r.JetStream.Publish(ctx, subj, data, opts...)
}
