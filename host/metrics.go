package host

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/latency"
)

// Per-plugin counters, kept by the calls themselves with atomics and read
// by Metrics at any time (a metrics scrape). A call pays one clock read more
// than it did (invoke already read the clock for its deadline) and three
// atomic adds: its latency bucket, the latency sum and, on failure, its
// error counters (measured in docs/decisions/0029-metrics.md).

// pointNames name the exports as metrics label them, indexed by fn.
var pointNames = [numFns]string{"authenticate", "authorize", "on_publish", "transform", "on_connect", "on_disconnect"}

// pointCounters are one export's counters.
type pointCounters struct {
	latency   latency.Histogram // every call that ran; its count is the calls that ran
	notRun    atomic.Uint64     // calls that got no instance (busy for the whole deadline, host closed)
	errors    atomic.Uint64
	deadlines atomic.Uint64
	traps     atomic.Uint64
}

// pluginCounters are a Plugin's counters.
type pluginCounters struct {
	points         [numFns]pointCounters
	reloads        atomic.Uint64
	reloadFailures atomic.Uint64
	loadedAt       atomic.Int64 // Unix nanoseconds of the last successful load
}

// called counts a call that ran: its time, and how it failed if it did.
// Every call that cost its instance (!healthy) is a deadline or a trap, so
// that Plugin.Traps is their sum.
func (pc *pointCounters) called(took time.Duration, healthy bool, err error) {
	pc.latency.Observe(took)
	switch {
	case !healthy && errors.Is(err, ErrDeadline):
		pc.deadlines.Add(1)
	case !healthy:
		pc.traps.Add(1)
	}
	if err != nil || !healthy {
		pc.errors.Add(1)
	}
}

// notCalled counts a call that failed before it ran.
func (pc *pointCounters) notCalled() {
	pc.notRun.Add(1)
	pc.errors.Add(1)
}

// PointMetrics are a plugin's counters for one of its exports.
type PointMetrics struct {
	// Point names the export: authenticate, authorize, on_publish,
	// transform, on_connect or on_disconnect.
	Point string
	// Calls counts the calls, whether they ran or failed to get an
	// instance.
	Calls uint64
	// Errors counts the calls that failed: a trap, a deadline, no instance
	// free for the whole deadline, an error or an invalid result from the
	// plugin. The chain's failure policy then decided.
	Errors uint64
	// Deadlines counts the calls cut off at the call deadline (their
	// instance discarded). Counted in Errors as well.
	Deadlines uint64
	// Traps counts the calls that trapped or ran out of fuel, their
	// instance discarded; deadlines are not counted here. Counted in
	// Errors as well.
	Traps uint64
	// Latency is the time of the calls that ran, from taking the instance
	// to its answer, whatever the answer.
	Latency latency.Snapshot
}

// PluginMetrics are a plugin's counters since the host loaded it; a
// reload keeps them.
type PluginMetrics struct {
	// Name is the plugin's configured name.
	Name string
	// LoadedAt is when its current module was loaded.
	LoadedAt time.Time
	// Reloads counts the times a new module replaced the one serving.
	Reloads uint64
	// ReloadFailures counts the reloads that failed (the old module kept
	// serving).
	ReloadFailures uint64
	// Points holds every export's counters, in the order authenticate,
	// authorize, on_publish, transform, on_connect, on_disconnect; an export
	// the plugin lacks has zeros.
	Points []PointMetrics
}

// Metrics returns the plugin's counters. It takes no lock: the counters are
// read one by one while calls go on.
func (p *Plugin) Metrics() PluginMetrics {
	m := PluginMetrics{
		Name:           p.name,
		Reloads:        p.metrics.reloads.Load(),
		ReloadFailures: p.metrics.reloadFailures.Load(),
		Points:         make([]PointMetrics, numFns),
	}
	if at := p.metrics.loadedAt.Load(); at != 0 {
		m.LoadedAt = time.Unix(0, at)
	}
	for fn := range p.metrics.points {
		pc := &p.metrics.points[fn]
		pm := PointMetrics{Point: pointNames[fn], Latency: pc.latency.Snapshot(),
			Errors: pc.errors.Load(), Deadlines: pc.deadlines.Load(), Traps: pc.traps.Load()}
		pm.Calls = pm.Latency.Count() + pc.notRun.Load()
		m.Points[fn] = pm
	}
	return m
}

// loaded records a successful load of a new module at now.
func (p *Plugin) loaded(now time.Time) { p.metrics.loadedAt.Store(now.UnixNano()) }
