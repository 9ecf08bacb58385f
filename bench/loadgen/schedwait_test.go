package main

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestProcessSchedSumsThreads reads a fake /proc: the two threads' waits
// and slices add up, and a thread without three fields is an error.
func TestProcessSchedSumsThreads(t *testing.T) {
	proc := t.TempDir()
	write := func(tid, text string) {
		dir := filepath.Join(proc, "42", "task", tid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "schedstat"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("42", "1000 250000 7\n")
	write("43", "5 1750000 3\n")
	st, err := processSchedIn(proc, 42)
	if err != nil {
		t.Fatal(err)
	}
	if st.waited != 2*time.Millisecond || st.slices != 10 {
		t.Fatalf("waited %v in %d slices, want 2ms in 10", st.waited, st.slices)
	}
	if _, err := processSchedIn(proc, 7); err == nil {
		t.Fatal("no error for a pid without threads")
	}
	write("44", "1 2\n")
	if _, err := processSchedIn(proc, 42); err == nil {
		t.Fatal("no error for a schedstat of two fields")
	}
}

// TestRunQueueWaitPerMessage: the per-message and per-slice figures of a
// window, and none when a thread's counts went with it.
func TestRunQueueWaitPerMessage(t *testing.T) {
	var res Result
	setRunQueueWait(&res, schedStat{waited: time.Millisecond, slices: 10}, schedStat{waited: 5 * time.Millisecond, slices: 110}, 1000)
	if res.RunQueueWaitPerMsgMicros != 4 || res.RunQueueWaitPerSliceMicros != 40 {
		t.Fatalf("%v us per message, %v per slice; want 4 and 40", res.RunQueueWaitPerMsgMicros, res.RunQueueWaitPerSliceMicros)
	}
	res = Result{}
	setRunQueueWait(&res, schedStat{waited: 5 * time.Millisecond, slices: 10}, schedStat{waited: time.Millisecond, slices: 20}, 1000)
	if res.RunQueueWaitPerMsgMicros != 0 || res.RunQueueWaitPerSliceMicros != 0 {
		t.Fatalf("a shrinking sum was recorded: %+v", res)
	}
}

// TestProcessSchedOfThisProcess reads the kernel's own figures: the slices
// given to this process's threads grow while they work and sleep.
func TestProcessSchedOfThisProcess(t *testing.T) {
	s0, err := processSched(os.Getpid())
	if err != nil {
		t.Skipf("no schedstat here: %v", err)
	}
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				time.Sleep(time.Millisecond) // each wake-up is a slice
			}
		}()
	}
	wg.Wait()
	s1, err := processSched(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s1.slices < s0.slices+20 {
		t.Fatalf("slices %d -> %d after 20 sleeps", s0.slices, s1.slices)
	}
}
