package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/setting"
)

func ptr[T any](v T) *T { return &v }

func noEnv(string) string { return "" }

// restore puts Go's defaults back after a test that changed the process's
// collector.
func restore(t *testing.T) {
	t.Cleanup(func() {
		Apply(Config{Percent: ptr(100), MinHeap: ptr(setting.ByteSize(0))}, noEnv)
	})
}

func readGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// The configured percent and memory limit are what the runtime runs with.
func TestApplySetsPercentAndMemoryLimit(t *testing.T) {
	restore(t)
	s := Apply(Config{Percent: ptr(250), MinHeap: ptr(setting.ByteSize(0)), MemoryLimit: 1 << 30}, noEnv)
	if got := readPercent(); got != 250 || s.Percent != 250 || s.From != "config" {
		t.Errorf("GOGC %d (settings %+v), want 250 from config", got, s)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 || s.MemoryLimit != 1<<30 {
		t.Errorf("memory limit %d (settings %+v), want 1 GiB", got, s)
	}
	// Unset again: no limit, Go's percent under the default floor.
	s = Apply(Config{}, noEnv)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 || s.Percent != DefaultPercent || s.MinHeap != DefaultMinHeap {
		t.Errorf("defaults: memory limit %d, settings %+v", got, s)
	}
}

// GOGC set by the operator stays in force unless the file says otherwise.
func TestEnvironmentPercentWinsOnlyWithoutTheKey(t *testing.T) {
	restore(t)
	debug.SetGCPercent(300) // what the runtime read from GOGC=300 at start
	env := func(k string) string {
		if k == "GOGC" {
			return "300"
		}
		return ""
	}
	if s := Apply(Config{MinHeap: ptr(setting.ByteSize(0))}, env); s.Percent != 300 || s.From != "environment" || readPercent() != 300 {
		t.Errorf("with GOGC=300 and no key: %+v, runtime %d", s, readPercent())
	}
	if s := Apply(Config{Percent: ptr(50), MinHeap: ptr(setting.ByteSize(0))}, env); s.Percent != 50 || readPercent() != 50 {
		t.Errorf("with GOGC=300 and percent 50: %+v, runtime %d", s, readPercent())
	}
}

// min_heap keeps the heap goal up near the floor however little is live,
// while the process allocates fast: without it Go's goal is twice the live
// heap (a few MiB in this test).
func TestMinHeapRaisesTheHeapGoal(t *testing.T) {
	restore(t)
	const floor = 256 << 20
	Apply(Config{Percent: ptr(100), MinHeap: ptr(setting.ByteSize(floor))}, noEnv)
	stop := allocateFast()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for readGoal() < floor*9/10 {
		if time.Now().After(deadline) {
			t.Fatalf("heap goal %d MiB after 30 s of allocation, want about %d MiB", readGoal()>>20, floor>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	// Without a floor the goal falls back to what percent gives.
	Apply(Config{Percent: ptr(100), MinHeap: ptr(setting.ByteSize(0))}, noEnv)
	runtime.GC()
	if g := readGoal(); g >= floor/2 {
		t.Errorf("heap goal %d MiB with the floor removed", g>>20)
	}
}

// The percentage puts the goal at the floor, never at the runtime's minimum
// goal scaled past it (which, before any cycle, was no goal at all).
func TestPercentForPutsTheGoalAtTheFloor(t *testing.T) {
	for _, tc := range []struct {
		base        int
		floor, live int64
		want        int
	}{
		{100, 64 << 20, 8 << 20, 700},     // 8 MiB live: 8x
		{100, 64 << 20, 1 << 20, 1600},    // 1 MiB live: the runtime's 4 MiB minimum x16 is the floor
		{100, 64 << 20, 48 << 20, 100},    // 48 MiB live: 33% would be under base
		{100, 64 << 20, 80 << 20, 100},    // above the floor: base
		{50, 64 << 20, 0, 1600},           // no cycle yet: the minimum goal at the floor, not MaxInt32
		{100, 1 << 40, 1 << 20, 26214400}, // a 1 TiB floor: capped by the minimum goal, 4 MiB x 262144
	} {
		if got := percentFor(tc.base, tc.floor, tc.live); got != tc.want {
			t.Errorf("percentFor(%d, %d, %d) = %d, want %d", tc.base, tc.floor, tc.live, got, tc.want)
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	c := Config{Percent: ptr(-2), MinHeap: ptr(setting.ByteSize(-1)), MemoryLimit: -1}
	err := c.Validate()
	for _, key := range []string{"percent: -2", "min_heap: -1", "memory_limit: -1"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want an error naming %q", err, key)
		}
	}
	if err := (&Config{Percent: ptr(-1)}).Validate(); err != nil {
		t.Errorf("percent -1 (off) refused: %v", err)
	}
}
