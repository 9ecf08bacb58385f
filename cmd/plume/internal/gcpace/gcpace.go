// Package gcpace is the `gc` section of plume.yaml: how the Go garbage
// collector is paced in the broker process (decision 0040).
//
// A broker's heap is small and its allocation steady: with Go's default
// (GOGC=100: a cycle each time the heap has grown by as much as was live
// after the last one) a broker with a few MiB live runs a collection every
// few milliseconds of traffic, and each cycle takes a core from the readers
// for its mark phase and stops every goroutine twice. min_heap is a soft
// floor under the heap goal: the collector does not start a cycle before
// the heap reaches it, whatever is live, so the number of cycles a second
// no longer depends on how little the broker happens to hold. It is soft:
// memory_limit (or GOMEMLIMIT) still wins, and with more than min_heap
// live the goal is percent's, as without it.
//
// The floor is held only while the broker allocates fast (follow.go,
// decision 0043): when it goes quiet the garbage the floor let pile up is
// returned to the OS once, and the goal follows the allocation rate down,
// between percent's and a quarter of it, so an idle fleet's RSS is about
// what it holds live, not the floor.
package gcpace

import (
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// Defaults, measured in decision 0040. The floor sits under the goal the
// broker had while the built-in plugins' modules kept ~22 MiB live (Go's goal
// ~44 MiB), and keeps the collector at those few cycles a second now that
// they are read only when configured: with a live heap of a few MiB, Go's own
// pacing runs ten times as many (+35% CPU per message, pipelined).
const (
	DefaultPercent = 100
	DefaultMinHeap = 32 << 20
)

// Config is the gc section. Unset keys take the defaults above, except
// that an environment variable the operator set (GOGC, GOMEMLIMIT) is
// left in force when its key is not in the file.
type Config struct {
	// Percent is GOGC: a cycle starts when the heap has grown by this
	// percentage of what was live after the last one; -1 turns the
	// collector off (then memory_limit is the only trigger).
	Percent *int `yaml:"percent"`
	// MinHeap is the soft floor under the heap goal, held while the broker
	// allocates fast (follow.go); 0 for none (Go's own 4 MiB minimum).
	MinHeap *setting.ByteSize `yaml:"min_heap"`
	// MemoryLimit is GOMEMLIMIT: the runtime collects more often, up to
	// half the CPU, to keep its total memory under it. 0: none.
	MemoryLimit setting.ByteSize `yaml:"memory_limit"`
}

// Validate checks the section's values; keys are relative to it.
func (c *Config) Validate() error {
	var errs []error
	if c.Percent != nil && *c.Percent < -1 {
		errs = append(errs, setting.Errorf("percent", "%d: want -1 (off) or a percentage >= 0", *c.Percent))
	}
	if c.MinHeap != nil && *c.MinHeap < 0 {
		errs = append(errs, setting.Errorf("min_heap", "%d: want a size >= 0", *c.MinHeap))
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, setting.Errorf("memory_limit", "%d: want a size >= 0 (0: none)", c.MemoryLimit))
	}
	return errors.Join(errs...)
}

// Settings is what Apply put in force, for the start-up log.
type Settings struct {
	Percent     int    // the base GOGC
	MinHeap     int64  // the floor, 0 for none
	MemoryLimit int64  // math.MaxInt64 for none
	From        string // "config", "environment" or "default": where Percent came from
}

var (
	mu     sync.Mutex
	active *tuner // the floor's tuner, nil without a floor
)

// Apply puts c in force for the whole process; a second Apply (a reload)
// replaces the first. getenv is os.Getenv but for tests.
func Apply(c Config, getenv func(string) string) Settings {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := Settings{Percent: DefaultPercent, MinHeap: DefaultMinHeap, From: "default"}
	switch {
	case c.Percent != nil:
		s.Percent, s.From = *c.Percent, "config"
	case getenv("GOGC") != "":
		// The runtime read it at start; ask it what it made of it.
		s.Percent, s.From = readPercent(), "environment"
	}
	if c.MinHeap != nil {
		s.MinHeap = int64(*c.MinHeap)
	}
	if c.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(c.MemoryLimit))
	} else if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	s.MemoryLimit = debug.SetMemoryLimit(-1) // -1 reads without changing

	mu.Lock()
	defer mu.Unlock()
	if active != nil {
		active.stop()
		active = nil
	}
	debug.SetGCPercent(s.Percent)
	if s.MinHeap > 0 && s.Percent > 0 {
		active = newTuner(s.Percent, s.MinHeap, followEvery)
		active.adjust()
		active.arm()
		active.start()
	}
	return s
}

// readPercent is the runtime's GOGC now, read without changing it.
func readPercent() int {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	return int(sample[0].Value.Uint64())
}

// tuner keeps the heap goal at or above floor while the broker allocates
// fast: after each cycle it sets GOGC to the larger of base and the
// percentage that puts the next goal at floor given what is live now, and
// to base or less (quietPercent) while the follower (follow.go) finds the
// broker quiet.
// debug.SetGCPercent does not stop the world; it runs at most once a cycle
// and once per change of pace, only when the value changes.
type tuner struct {
	base    int
	floor   int64
	every   time.Duration // the follower's tick
	mu      sync.Mutex
	stopped bool
	busy    bool    // the floor is held
	rate    float64 // bytes allocated a second, smoothed (follow.go)
	last    int
	sample  []metrics.Sample
	done    chan struct{} // closed by stop: the follower returns
	exited  chan struct{} // closed by the follower on return
}

func newTuner(base int, floor int64, every time.Duration) *tuner {
	return &tuner{base: base, floor: floor, every: every, done: make(chan struct{}), exited: make(chan struct{})}
}

// sentinel is garbage the moment it is made: its finalizer runs once after
// each collection. Large enough to be an object of its own (the tiny
// allocator batches smaller pointer-free ones, whose finalizers may wait).
type sentinel struct {
	_ *int
	_ [3]uintptr
}

func (t *tuner) arm() {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		t.mu.Lock()
		stopped := t.stopped
		t.mu.Unlock()
		if !stopped {
			t.adjust()
			t.arm()
		}
	})
}

// percentFor is the GOGC that puts the goal at floor with live bytes
// live, but never below base.
//
// The runtime scales its minimum goal (4 MiB) by GOGC/100 too, so the
// percentage is capped where that minimum reaches the floor: with less than
// 4 MiB live, or none measured yet (no cycle has run: live reads 0), the
// cap is what puts the goal at the floor. Uncapped, live 0 gave GOGC
// MaxInt32 and a goal of 85 PiB: no collection at all until the runtime's
// forced one two minutes later (decision 0043).
func percentFor(base int, floor, live int64) int {
	if live >= floor {
		return base
	}
	p := floor * 100 / minHeadroom
	if live > 0 {
		p = min(p, (floor-live)*100/live)
	}
	if p > math.MaxInt32 {
		p = math.MaxInt32
	}
	return max(base, int(p))
}

func (t *tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if t.sample == nil {
		t.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	}
	metrics.Read(t.sample)
	live := int64(t.sample[0].Value.Uint64())
	p := quietPercent(t.base, live, t.rate)
	if t.busy {
		p = percentFor(t.base, t.floor, live)
	}
	if p != t.last {
		t.last = p
		debug.SetGCPercent(p)
	}
}

// stop ends the tuner and waits for its follower; the finalizer sees
// stopped and does not re-arm.
func (t *tuner) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	close(t.done)
	<-t.exited
}
