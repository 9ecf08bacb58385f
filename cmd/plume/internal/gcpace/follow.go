package gcpace

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The follower: min_heap is held only while the broker allocates fast
// (decision 0043).
//
// The floor exists for throughput under load (0040: +30% pipelined): with a
// few MiB live, Go's own goal (live × (1 + percent/100)) makes a busy
// broker collect tens of times a second. A quiet broker pays nothing for
// Go's goal, but the floor made it keep up to min_heap of garbage, and an
// idle fleet that just connected kept its handshakes' garbage up to the
// floor in RSS: 2.4 KiB per parked connection where 0.93 KiB is live.
//
// So every followEvery the follower reads how much was allocated since the
// last tick. Fast is a rate at which Go's own pacing would collect at least
// once a second; then the floor is held. After settleTicks ticks in a row
// under a quarter of that rate the floor is dropped and one debug.FreeOSMemory (a collection,
// then every free page back to the OS) returns what the burst left. It runs
// once per change from fast to quiet, never while fast, so its full
// collection costs one cycle per burst, against the many the floor saved
// during it. It runs unconditionally: what is live is known only after a
// collection (the runtime's figure is the last cycle's, taken in the middle
// of the burst, when everything allocated during the mark counted as live:
// 176 MiB for a test that held 64 KiB), so a cheaper check could not tell
// whether there is anything to return.
const (
	followEvery = 250 * time.Millisecond
	settleTicks = 2       // quiet for 0.5–0.75 s before the floor drops
	minHeadroom = 4 << 20 // Go's smallest heap goal (runtime heapMinimum)
)

// pace is the follower's state machine, kept apart from the runtime so it
// can be tested as a table.
type pace struct {
	busy   bool
	quiet  int       // ticks in a row below the fast rate
	allocs uint64    // cumulative bytes allocated at the last tick
	at     time.Time // time of the last tick
}

// step takes the cumulative allocation count and the live heap at now and
// says whether the floor must be held from now on, and whether the broker
// has just gone from fast to quiet (the moment for a release). Between
// quiet (under a quarter of the fast rate) and fast the state stays as it
// was, so a rate near the line does not turn the floor on and off, with a
// release each time.
func (p *pace) step(allocs, live uint64, now time.Time, base int) (hold, settled bool) {
	elapsed := now.Sub(p.at)
	grown := allocs - p.allocs
	p.allocs, p.at = allocs, now
	if elapsed <= 0 {
		return p.busy, false
	}
	rate := allocRate(grown, elapsed, live, base)
	switch {
	case rate >= 1:
		p.busy, p.quiet = true, 0
	case rate < 0.25:
		p.quiet++
		if p.busy && p.quiet >= settleTicks {
			p.busy = false
			return false, true
		}
	default:
		p.quiet = 0
	}
	return p.busy, false
}

// allocRate is how many times a second Go's own pacing (goal live × (1 +
// base/100), at least 4 MiB) would collect if grown bytes were allocated
// in every elapsed: 1 or more is fast.
func allocRate(grown uint64, elapsed time.Duration, live uint64, base int) float64 {
	headroom := max(live*uint64(base)/100, minHeadroom)
	return float64(grown) / elapsed.Seconds() / float64(headroom)
}

// start runs the follower until stop.
func (t *tuner) start() {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(samples)
	p := pace{allocs: samples[0].Value.Uint64(), at: time.Now()}
	go func() {
		defer close(t.exited)
		tick := time.NewTicker(t.every)
		defer tick.Stop()
		for {
			select {
			case <-t.done:
				return
			case now := <-tick.C:
				metrics.Read(samples)
				hold, settled := p.step(samples[0].Value.Uint64(), samples[1].Value.Uint64(), now, t.base)
				t.mu.Lock()
				changed := hold != t.busy
				t.busy = hold
				t.mu.Unlock()
				if changed {
					t.adjust()
				}
				if settled {
					debug.FreeOSMemory()
				}
			}
		}
	}()
}
