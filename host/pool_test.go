package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// Many callers share a small pool: every call gets an instance, none is lost
// or duplicated, and afterwards every token is an idle instance again.
func TestPoolUnderConcurrentCalls(t *testing.T) {
	cfg := one("", "minimal", "testdata/minimal.wasm")
	// A caller may wait for an instance up to the call deadline: on a busy
	// machine under the race detector, 16 callers on 2 instances can wait
	// longer than the default. This test is about the pool, not deadlines.
	cfg.Plugins[0].CallTimeout = 30 * time.Second
	h, _ := startHost(t, cfg)
	p := h.Plugin("minimal")
	m := p.cur.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "t"}
			for i := 0; i < 2000; i++ {
				if res, err := p.Authorize(context.Background(), req); err != nil || res.Verdict != hooks.Allow {
					errs <- errors.Join(err, errors.New("not allowed"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if idle, spare, waiters := len(idleInstances(m)), m.pool.spare.Load(), m.pool.waiters.Load(); idle != cfg.Plugins[0].PoolSize || spare != 0 || waiters != 0 {
		t.Fatalf("after the calls: %d idle, %d spare, %d waiting; want %d, 0, 0", idle, spare, waiters, cfg.Plugins[0].PoolSize)
	}
}

// A caller waiting for an instance is woken by a release, or by the module's
// retirement (and then moves on), or gives up when its context ends.
func TestPoolWaitersWake(t *testing.T) {
	cfg := one("", "minimal", "testdata/minimal.wasm")
	cfg.Plugins[0].PoolSize = 1
	h, _ := startHost(t, cfg)
	m := h.Plugin("minimal").cur.Load()
	ctx := context.Background()

	held, err := m.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := m.acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire from an empty pool: %v; want the context's deadline", err)
	}

	got := make(chan *instance, 1)
	go func() {
		inst, err := m.acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- inst
	}()
	waitFor(t, func() bool { return m.pool.waiters.Load() == 1 })
	m.release(held, true)
	second := <-got
	if second != held {
		t.Fatalf("the waiter got %p; want the released instance %p", second, held)
	}

	retired := make(chan error, 1)
	go func() {
		_, err := m.acquire(ctx)
		retired <- err
	}()
	waitFor(t, func() bool { return m.pool.waiters.Load() == 1 })
	m.retire()
	if err := <-retired; !errors.Is(err, errRetired) {
		t.Fatalf("a waiter at retirement got %v; want errRetired", err)
	}
	m.release(second, true) // closes it: the module is retired
	if n := len(idleInstances(m)); n != 0 || !m.closed.Load() {
		t.Fatalf("after the last release of a retired module: %d idle, closed %v; want 0 and closed", n, m.closed.Load())
	}
}

// waitFor polls cond until it holds, failing t after five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
