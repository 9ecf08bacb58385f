package host

import (
	"context"
	"errors"
	"testing"
	"time"
)

// pointOf returns the counters of one export from m.
func pointOf(t *testing.T, m PluginMetrics, point string) PointMetrics {
	t.Helper()
	for _, p := range m.Points {
		if p.Point == point {
			return p
		}
	}
	t.Fatalf("no point %q in %+v", point, m.Points)
	return PointMetrics{}
}

// Each call is counted at its export with its latency; failures by kind: a
// plugin error, a trap, a deadline cut-off.
func TestMetricsCountCallsErrorsTrapsAndDeadlines(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		cfg.Plugins[0].CallTimeout = 100 * time.Millisecond
		h, _ := startHost(t, cfg)
		p := h.Plugin("hostile")
		before := time.Now()
		if at := p.Metrics().LoadedAt; at.IsZero() || at.After(before) {
			t.Errorf("LoadedAt %v, want the load before %v", at, before)
		}

		for range 5 {
			if _, err := authorizeDirect(h, "hostile", "fine"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := authorizeDirect(h, "hostile", "panic"); !errors.Is(err, ErrTrap) {
			t.Fatalf("panic: %v, want ErrTrap", err)
		}
		if _, err := authorizeDirect(h, "hostile", "sleep:"+sleepFor.String()); !errors.Is(err, ErrDeadline) {
			t.Fatalf("sleep: %v, want ErrDeadline", err)
		}

		m := p.Metrics()
		az := pointOf(t, m, "authorize")
		want := PointMetrics{Point: "authorize", Calls: 7, Errors: 2, Deadlines: 1, Traps: 1}
		got := az
		got.Latency = want.Latency
		if got != want {
			t.Errorf("authorize counters %+v, want %+v", got, want)
		}
		if az.Latency.Count() != 7 {
			t.Errorf("latency count %d, want 7", az.Latency.Count())
		}
		// The cut-off call ran at least its 100 ms deadline.
		if az.Latency.Sum < 100*time.Millisecond {
			t.Errorf("latency sum %v, want at least the 100ms deadline", az.Latency.Sum)
		}
		if a := pointOf(t, m, "authenticate"); a.Calls != 0 || a.Latency.Count() != 0 {
			t.Errorf("authenticate counted %+v without a call", a)
		}
		if p.Traps() != az.Traps+az.Deadlines {
			t.Errorf("Traps() %d, want traps + deadlines %d", p.Traps(), az.Traps+az.Deadlines)
		}
	})
}

// A call that finds no instance free for its whole deadline is a call and
// an error, with no latency observed.
func TestMetricsCountACallThatGotNoInstance(t *testing.T) {
	cfg := one(EngineWazero, "hostile", testPlugin(t, "hostile"))
	cfg.Plugins[0].PoolSize = 1
	h, _ := startHost(t, cfg)
	p := h.Plugin("hostile")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Authorize(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	az := pointOf(t, p.Metrics(), "authorize")
	if az.Calls != 1 || az.Errors != 1 || az.Latency.Count() != 0 {
		t.Errorf("authorize %+v, want one call, one error, no latency", az)
	}
}

// Reloads and failed reloads are counted, and LoadedAt moves with a swap.
func TestMetricsCountReloads(t *testing.T) {
	h, path, events, _ := reloadHost(t, EngineWazero, "A")
	p := h.Plugin("tagged")
	first := p.Metrics().LoadedAt
	copyFile(t, taggedBuild(t, "B"), path)
	if err := h.Reload(context.Background(), h.cfg); err != nil {
		t.Fatal(err)
	}
	if got := tagOf(t, h); got != "B" {
		t.Fatalf("tag %q after Reload, want B", got)
	}
	replaceByRename(t, "testdata/garbage.wasm", path)
	for awaitReload(t, events) == nil { // the B swap may be reported first
	}
	m := p.Metrics()
	if m.Reloads != 1 || m.ReloadFailures == 0 {
		t.Errorf("reloads %d, failures %d; want 1 and at least 1", m.Reloads, m.ReloadFailures)
	}
	if !m.LoadedAt.After(first) {
		t.Errorf("LoadedAt %v did not move past the first load %v", m.LoadedAt, first)
	}
}
