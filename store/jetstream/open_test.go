package jetstream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Three nodes of a cluster open the store at the same moment, each through
// its own server, as plume nodes started together do: every Open finishes
// and each node loads what it committed. Before request, the racing
// create-or-update of the log stream left every caller without an answer
// until its whole context ran out.
func TestConcurrentOpenOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs := runCluster(t)
	for round := range 2 { // two fresh stores: the race is not certain to happen in one
		cfg := freshConfig("")
		cfg.Replicas = 3
		stores := make([]*Store, len(srvs))
		errs := make([]error, len(srvs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, srv := range srvs {
			nc := connect(t, srv)
			c := cfg
			c.Node = srv.Name()
			wg.Go(func() {
				// Generous: a single opener takes well under a second here.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				<-start
				stores[i], errs[i] = Open(ctx, nc, c, testLog(t))
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent Open on three servers: %v", round, err)
		}
		for i, s := range stores {
			t.Cleanup(func() { _ = s.Close() })
			id := s.Node() + "-client"
			if err := s.Commit(withQueue(id, uint64(i+1))); err != nil {
				t.Fatalf("round %d: Commit on %s: %v", round, s.Node(), err)
			}
			snap := load(t, s)
			if len(snap.Sessions) != 1 || snap.Sessions[0].ID != id || len(snap.Sessions[0].Queued) != 1 {
				t.Fatalf("round %d: %s loaded %s, want its own session %s with one queued delivery", round, s.Node(), dump(snap), id)
			}
		}
	}
}

// A store reopened after a concurrent creation keeps refusing another shard
// count: the create-first path must still check the existing log's metadata.
func TestConcurrentOpenThenOtherShards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs := runCluster(t)
	cfg := freshConfig("n1")
	cfg.Replicas = 3
	s := openT(t, connect(t, srvs[0]), cfg)
	t.Cleanup(func() { _ = s.Close() })
	cfg.Node, cfg.Shards = "n2", cfg.Shards+1
	if _, err := Open(context.Background(), connect(t, srvs[1]), cfg, testLog(t)); !errors.Is(err, ErrShards) {
		t.Fatalf("Open with another shard count: %v, want ErrShards", err)
	}
}
