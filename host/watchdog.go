package host

import (
	"time"
)

// deadlineMode is how call deadlines are enforced; docs/decisions/0006 has the
// measurements behind the default.
type deadlineMode uint8

const (
	// deadlineInterrupt: the module is rewritten to check an exported global
	// at every loop head (package interrupt); the watchdog sets the global
	// of an overrunning call. A call costs two atomic stores, a loop
	// iteration one load and branch. Modules the rewriter cannot read fall
	// back to deadlineWatchdog.
	deadlineInterrupt deadlineMode = iota
	// deadlineWatchdog: code is compiled with termination checks, each
	// instance calls with one long-lived context, and a watchdog goroutine
	// cancels that context when a call overruns. A call costs two atomic stores.
	deadlineWatchdog
	// deadlinePerCall: a context.WithTimeout per call (for comparison).
	deadlinePerCall
	// deadlineNone: no termination checks, no deadline (for comparison only:
	// an endless loop is never cut off).
	deadlineNone
)

// minInitTimeout bounds instantiation and init, which do more than a call.
const minInitTimeout = 2 * time.Second

// watchdogTick is the epoch length: deadlines are enforced to within a tick.
const watchdogTick = 5 * time.Millisecond

// now is the current epoch: watchdog ticks elapsed since the host started,
// by the monotonic clock. Epochs are read from the clock, not counted, on
// both sides: a ticker drops ticks when the watchdog is slow to run (a busy
// machine, a spinning guest on each core), and counting them stretched a
// 600 ms deadline to over a second; an epoch the watchdog stored, read at
// the start of a call, may be stale and would cut the call short.
func (h *Host) now() int64 { return epochAt(time.Since(h.start)) }

// epochAt is the epoch at elapsed since the host started.
func epochAt(elapsed time.Duration) int64 { return int64(elapsed/watchdogTick) + 1 }

func (h *Host) ticksFor(d time.Duration) int64 {
	return int64((d+watchdogTick-1)/watchdogTick) + 1
}

func (h *Host) watch(inst *instance) {
	h.instMu.Lock()
	h.insts[inst] = struct{}{}
	h.instMu.Unlock()
}

func (h *Host) unwatch(inst *instance) {
	h.instMu.Lock()
	delete(h.insts, inst)
	h.instMu.Unlock()
}

// watchdog advances the epoch every tick and cuts off the calls whose deadline
// epoch has passed: with wazero by setting the instance's interrupt global,
// or, for a module compiled with wazero's termination checks, by cancelling
// the instance's context; with wasmtime by advancing the engine's epoch, at
// which the call traps by itself.
func (h *Host) watchdog() {
	defer h.wg.Done()
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	var overdue []*instance
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		e := h.now()
		h.eng.advance(e)
		overdue = overdue[:0]
		h.instMu.Lock()
		for inst := range h.insts {
			if d := inst.deadline.Load(); d > 0 && e > d && inst.deadline.CompareAndSwap(d, expiredMark) {
				overdue = append(overdue, inst)
			}
		}
		h.instMu.Unlock()
		for _, inst := range overdue {
			inst.cutOff()
		}
	}
}
