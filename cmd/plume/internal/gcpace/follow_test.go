package gcpace

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// sink keeps the compiler from dropping allocateFast's garbage.
var sink []byte

// allocateFast makes garbage as fast as one goroutine can (far above any
// rate the follower calls quiet) until the returned stop is called; stop
// may be called more than once.
func allocateFast() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for range 64 {
				sink = make([]byte, 64<<10)
			}
			runtime.Gosched()
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// retainedHeap is the heap memory the process keeps from the OS: objects
// (live or not yet swept), fragmentation, and free pages not returned.
func retainedHeap() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
}

// A burst under the floor leaves up to the floor of garbage in the heap;
// once the process has been quiet for a moment the floor is dropped and
// what the burst left goes back to the OS, without a collection or a
// FreeOSMemory from anyone else. Before the follower (decision 0043) the
// goal stayed at the floor and the garbage stayed retained for good.
func TestFloorDroppedAndHeapReleasedOnceQuiet(t *testing.T) {
	restore(t)
	const floor = 128 << 20
	Apply(Config{Percent: ptr(100), MinHeap: ptr(setting.ByteSize(floor))}, noEnv)
	stop := allocateFast()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for readGoal() < floor*9/10 || retainedHeap() < floor/2 {
		if time.Now().After(deadline) {
			t.Fatalf("allocating: heap goal %d MiB, retained %d MiB after 30 s, want the goal at the %d MiB floor and half of it retained",
				readGoal()>>20, retainedHeap()>>20, floor>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	sink = nil
	// Quiet now: the test allocates next to nothing while it waits.
	deadline = time.Now().Add(30 * time.Second)
	for readGoal() >= floor/4 || retainedHeap() >= floor/4 {
		if time.Now().After(deadline) {
			t.Fatalf("quiet for 30 s: heap goal %d MiB, retained %d MiB; want both under %d MiB (floor dropped, burst released)",
				readGoal()>>20, retainedHeap()>>20, floor/4>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The follower's decisions, tick by tick: fast allocation holds the floor
// at once; it is dropped, with a release, only after settleTicks quiet
// ticks in a row; a quiet tick inside a burst, or a rate between quiet and
// fast, does not drop it; a broker that was never fast never holds it.
func TestPaceHoldsTheFloorOnlyWhileFast(t *testing.T) {
	const live = 8 << 20 // headroom at GOGC 100: 8 MiB a second is fast
	const perTick = live / 4
	type step struct {
		grown         uint64 // bytes allocated during the tick
		hold, settled bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"never fast", []step{{100 << 10, false, false}, {perTick - 1, false, false}, {0, false, false}, {0, false, false}}},
		{"burst then quiet", []step{{16 << 20, true, false}, {0, true, false}, {0, false, true}, {0, false, false}, {0, false, false}}},
		{"one quiet tick inside a burst", []step{{16 << 20, true, false}, {0, true, false}, {16 << 20, true, false}, {1 << 10, true, false}, {0, false, true}}},
		{"between quiet and fast: held", []step{{perTick, true, false}, {perTick / 2, true, false}, {perTick / 2, true, false}, {perTick / 2, true, false}, {perTick/4 - 1, true, false}, {0, false, true}}},
		{"between quiet and fast resets the quiet count", []step{{perTick, true, false}, {0, true, false}, {perTick / 2, true, false}, {0, true, false}, {0, false, true}}},
		{"two bursts, two releases", []step{{16 << 20, true, false}, {0, true, false}, {0, false, true}, {4 << 20, true, false}, {0, true, false}, {0, false, true}}},
	} {
		now := time.Unix(0, 0)
		p := pace{at: now}
		var allocs uint64
		for i, s := range tc.steps {
			allocs += s.grown
			now = now.Add(followEvery)
			hold, settled := p.step(allocs, live, now, 100)
			if hold != s.hold || settled != s.settled {
				t.Errorf("%s, tick %d (%d bytes): hold %v settled %v, want %v %v", tc.name, i, s.grown, hold, settled, s.hold, s.settled)
			}
		}
	}
}

func TestAllocRateIsGoOwnPacingInCyclesASecond(t *testing.T) {
	for _, tc := range []struct {
		grown   uint64
		elapsed time.Duration
		live    uint64
		base    int
		want    float64
	}{
		{4 << 20, time.Second, 1 << 20, 100, 1},               // 4 MiB minimum goal: once a second
		{1 << 20, time.Second, 1 << 20, 100, 0.25},            //
		{100 << 20, time.Second, 200 << 20, 100, 0.5},         // a big live heap: Go collects every 2 s
		{100 << 20, time.Second, 200 << 20, 50, 1},            // at GOGC 50, every second
		{1 << 20, 100 * time.Millisecond, 8 << 20, 100, 1.25}, // 10 MiB/s against 8 MiB of headroom
	} {
		if got := allocRate(tc.grown, tc.elapsed, tc.live, tc.base); got != tc.want {
			t.Errorf("allocRate(%d, %v, %d, %d) = %v, want %v", tc.grown, tc.elapsed, tc.live, tc.base, got, tc.want)
		}
	}
}

// While quiet, the goal's headroom is what the broker allocates in
// quietCycle, in steps, between quietMinPercent and percent.
func TestQuietPercentFollowsTheRate(t *testing.T) {
	const live = 40 << 20
	for _, tc := range []struct {
		base int
		rate float64 // bytes a second
		want int
	}{
		{100, 0, 25},               // nothing allocated: the smallest headroom
		{100, 100 << 10, 25},       // keep-alives: 1 MiB in 10 s, 2.5% of live
		{100, 1 << 20, 25},         // 10 MiB in 10 s: 25%
		{100, 1.1 * (1 << 20), 50}, // just over: the next step
		{100, 3 << 20, 75},         // 30 MiB: 75%
		{100, 8 << 20, 100},        // 80 MiB in 10 s: percent's (Go collects every 5 s)
		{400, 8 << 20, 200},        // an operator's 400 is a ceiling, not a floor
		{20, 0, 20},                // percent under the minimum: percent
	} {
		if got := quietPercent(tc.base, live, tc.rate); got != tc.want {
			t.Errorf("quietPercent(%d, 40 MiB, %.0f B/s) = %d, want %d", tc.base, tc.rate, got, tc.want)
		}
	}
	if got := quietPercent(100, 0, 0); got != 100 {
		t.Errorf("quietPercent with nothing measured live = %d, want percent's 100", got)
	}
}

// A quiet broker that holds a lot live and allocates slowly (a keep-alive
// fleet) keeps a goal near what it holds, not twice it: the garbage between
// cycles is what it allocates in about quietCycle.
func TestQuietGoalStaysNearTheLiveHeap(t *testing.T) {
	restore(t)
	ballast := make([][]byte, 64) // 64 MiB held live for the test
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
	}
	Apply(Config{Percent: ptr(100), MinHeap: ptr(setting.ByteSize(32 << 20))}, noEnv)
	// A burst first: the follower holds the floor (here under live, so the
	// goal is percent's, 2 × live), then goes quiet.
	stop := allocateFast()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for !following(true) {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not find 30 s of fast allocation fast")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	slow := time.NewTicker(10 * time.Millisecond)
	defer slow.Stop()
	deadline = time.Now().Add(30 * time.Second)
	// 4 KiB every 10 ms: 400 KiB a second, quiet by far.
	for readGoal() > 64<<20*3/2 {
		if time.Now().After(deadline) {
			t.Fatalf("quiet for 30 s with 64 MiB live: heap goal %d MiB, want under 96 (percent 100 alone: 128)", readGoal()>>20)
		}
		<-slow.C
		sink = make([]byte, 4<<10)
	}
	runtime.KeepAlive(ballast)
}

// following says whether the active tuner holds the floor (busy) or not.
func following(busy bool) bool {
	mu.Lock()
	defer mu.Unlock()
	if active == nil {
		return false
	}
	active.mu.Lock()
	defer active.mu.Unlock()
	return active.busy == busy
}
