package gcpace

import (
	"math"
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
// under a quarter of that rate the floor is dropped and one
// debug.FreeOSMemory (a collection, then every free page back to the OS)
// returns what the burst left. It runs once per change from fast to quiet,
// never while fast, so its full collection costs one cycle per burst,
// against the many the floor saved during it. While quiet, the goal follows
// the rate down as well (quietPercent). It runs unconditionally: what is live is known only after a
// collection (the runtime's figure is the last cycle's, taken in the middle
// of the burst, when everything allocated during the mark counted as live:
// 176 MiB for a test that held 64 KiB), so a cheaper check could not tell
// whether there is anything to return.
const (
	followEvery = 250 * time.Millisecond
	settleTicks = 2       // quiet for 0.5–0.75 s before the floor drops
	minHeadroom = 4 << 20 // Go's smallest heap goal (runtime heapMinimum)
	rateTicks   = 8       // the smoothed rate's time constant, in ticks (2 s)

	// While quiet, the goal's headroom is what the broker allocates in
	// quietCycle (so at most one collection per quietCycle), never less
	// than quietMinPercent of live and never more than percent's.
	quietCycle      = 10 * time.Second
	quietMinPercent = 25
	quietStep       = 25 // GOGC moves in steps of this, not on every tick's noise
)

// pace is the follower's state machine, kept apart from the runtime so it
// can be tested as a table.
type pace struct {
	busy   bool
	quiet  int       // ticks in a row below the fast rate
	allocs uint64    // cumulative bytes allocated at the last tick
	at     time.Time // time of the last tick
	rate   float64   // bytes a second, smoothed over ~rateTicks ticks
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
	if p.rate == 0 {
		p.rate = float64(grown) / elapsed.Seconds()
	} else {
		p.rate += (float64(grown)/elapsed.Seconds() - p.rate) / rateTicks
	}
	rate := allocRate(grown, elapsed, live, base)
	switch {
	case rate >= 1:
		p.busy, p.quiet = true, 0
	case rate < 0.25:
		p.quiet++
		if p.busy && p.quiet >= settleTicks {
			// The burst's rate would take the smoothed one seconds to
			// forget: start the quiet state from what it is now.
			p.busy, p.rate = false, float64(grown)/elapsed.Seconds()
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
				t.busy, t.rate = hold, p.rate
				t.mu.Unlock()
				t.adjust() // sets GOGC only if it changed
				if settled {
					debug.FreeOSMemory()
				}
			}
		}
	}()
}

// quietPercent is the GOGC while the broker is quiet (decision 0043): a
// goal whose headroom over live is what rate allocates in quietCycle, in
// steps of quietStep, between quietMinPercent and base. A quiet broker's
// heap then stays near what it holds live (a keep-alive fleet's garbage
// grew it back to 2 × live with base 100), and the collector runs at most
// once per quietCycle for it: no more than Go's own pacing costs at any
// rate where this is below base. At 25 the first cycles of a burst, before
// the next tick holds the floor, come at most 4 times as often as Go's.
func quietPercent(base int, live int64, rate float64) int {
	if base <= quietMinPercent || live <= 0 {
		return base
	}
	p := int(math.Ceil(rate*quietCycle.Seconds()*100/float64(live)/quietStep)) * quietStep
	return min(base, max(quietMinPercent, p))
}
