package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// sleepFor is what the sleeping calls ask for: long enough that a call that
// ran it out could not pass for one cut at its deadline on any machine.
const sleepFor = 30 * time.Second

// A plugin blocked in a WASI sleep (Go's time.Sleep) is cut off at its
// deadline like a loop: the call fails with ErrDeadline, its late ALLOW is
// never used, the chain's policy denies, and the next call gets a fresh
// instance.
func TestSleepIsCutAtTheDeadline(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		cfg.Plugins[0].CallTimeout = 100 * time.Millisecond
		h, _ := startHost(t, cfg)

		start := time.Now()
		res, err := authorizeDirect(h, "hostile", "sleep:"+sleepFor.String())
		took := time.Since(start)
		t.Logf("a %s sleep under a 100ms deadline answered after %s", sleepFor, took.Round(time.Millisecond))
		if !errors.Is(err, ErrDeadline) {
			t.Errorf("sleeping call: %v, %v; want ErrDeadline", res.Verdict, err)
		}
		if took < 100*time.Millisecond || took > sleepFor/3 {
			t.Errorf("sleeping call answered after %s; want soon after the 100ms deadline, not after the %s sleep", took, sleepFor)
		}
		if res, err := authorize(h, "sleep:"+sleepFor.String()); err != nil || res.Verdict != hooks.Deny {
			t.Errorf("through the chain: %v, %v; want the failure policy's deny", res.Verdict, err)
		}
		if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("after the sleeps: %v, %v; want allow from a fresh instance", res.Verdict, err)
		}
		if n := h.Plugin("hostile").Traps(); n != 2 {
			t.Errorf("traps = %d, want 2 (each cut-off instance)", n)
		}
	})
}

// Two sleeping calls occupy both instances of a pool: other callers are
// answered within about the 2 s deadline, by an instance freed when a
// sleeper is cut off or by the failure policy, never after the sleeps.
func TestSleepersDoNotHoldOtherCallers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		// Long enough for the test to see both sleepers hold their
		// instances however busy the machine, short beside the sleeps.
		cfg.Plugins[0].CallTimeout = 2 * time.Second
		cfg.Plugins[0].PoolSize = 2
		h, _ := startHost(t, cfg)
		m := h.Plugin("hostile").cur.Load()

		var wg sync.WaitGroup
		sleepers := make(chan error, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := authorizeDirect(h, "hostile", "sleep:"+sleepFor.String())
				sleepers <- err
			}()
		}
		waitFor(t, func() bool { return m.inflight.Load() == 2 && len(idleInstances(m)) == 0 })

		type answer struct {
			res  hooks.AuthzResult
			err  error
			took time.Duration
		}
		answers := make(chan answer, 4)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				res, err := authorize(h, "fine")
				answers <- answer{res, err, time.Since(start)}
			}()
		}
		wg.Wait()
		close(sleepers)
		close(answers)
		for err := range sleepers {
			if !errors.Is(err, ErrDeadline) {
				t.Errorf("sleeper: %v; want ErrDeadline", err)
			}
		}
		for a := range answers {
			t.Logf("another caller: %v after %s", a.res.Verdict, a.took.Round(time.Millisecond))
			if a.err != nil || (a.res.Verdict != hooks.Allow && a.res.Verdict != hooks.Deny) {
				t.Errorf("another caller: %v, %v; want an answer", a.res.Verdict, a.err)
			}
			if a.took > sleepFor/3 {
				t.Errorf("another caller answered after %s; want about the 2s deadline, not the %s sleeps", a.took, sleepFor)
			}
		}
	})
}

// A caller that finds every instance busy waits at most the call deadline,
// then fails with ErrBusy, and the chain's policy answers.
func TestWaitForAnInstanceEndsAtTheCallDeadline(t *testing.T) {
	cfg := one("", "minimal", "testdata/minimal.wasm")
	cfg.Plugins[0].PoolSize = 1
	cfg.Plugins[0].CallTimeout = 100 * time.Millisecond
	h, _ := startHost(t, cfg)
	p := h.Plugin("minimal")
	m := p.cur.Load()
	held, err := m.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer m.release(held, true)

	// The context only keeps a broken build from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), sleepFor)
	defer cancel()
	start := time.Now()
	_, err = p.Authorize(ctx, &hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "t"})
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("authorize with every instance held: %v; want ErrBusy", err)
	}
	if took < 100*time.Millisecond || took > sleepFor/3 {
		t.Errorf("gave up after %s; want just after the 100ms deadline", took)
	}
	if res, _ := authorize(h, "t"); res.Verdict != hooks.Deny {
		t.Errorf("chain verdict = %v; want the failure policy's deny", res.Verdict)
	}
	if n := m.pool.waiters.Load(); n != 0 {
		t.Errorf("%d waiters left counted", n)
	}
}
