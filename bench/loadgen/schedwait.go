package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// schedStat is what the kernel counted for a process's threads
// (/proc/PID/task/*/schedstat, summed): the time they were runnable but
// waited for a CPU, and how many times one of them was given a CPU. On a
// machine whose cores the load generator shares with the broker, the wait
// is the part of a round trip that is neither the broker's work nor the
// network (docs/decisions/0051).
type schedStat struct {
	waited time.Duration
	slices uint64
}

// processSched sums the schedstat of pid's threads. A thread that ended
// between two samples takes its counts with it, so a difference of two
// samples is a lower bound; the brokers measured keep their threads.
func processSched(pid int) (schedStat, error) { return processSchedIn("/proc", pid) }

func processSchedIn(proc string, pid int) (schedStat, error) {
	var st schedStat
	tasks, err := filepath.Glob(filepath.Join(proc, strconv.Itoa(pid), "task", "*", "schedstat"))
	if err != nil || len(tasks) == 0 {
		return st, fmt.Errorf("scheduler statistics of pid %d: no threads under %s", pid, proc)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended after the listing
		}
		// Three numbers: ns on a CPU, ns waiting on a run queue, slices.
		fields := strings.Fields(string(b))
		if len(fields) < 3 {
			return st, fmt.Errorf("%s: %d fields, want 3", f, len(fields))
		}
		wait, err1 := strconv.ParseUint(fields[1], 10, 64)
		slices, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return st, fmt.Errorf("%s: bad wait/slices %q %q", f, fields[1], fields[2])
		}
		st.waited += time.Duration(wait)
		st.slices += slices
	}
	return st, nil
}

// brokerSchedOf is processSched, or nothing when the broker's pid is unknown
// or the kernel keeps no schedstat (CONFIG_SCHEDSTATS off, not Linux).
func brokerSchedOf(pid int) (schedStat, bool) {
	if pid == 0 {
		return schedStat{}, false
	}
	st, err := processSched(pid)
	return st, err == nil
}

// setRunQueueWait records the broker's run-queue wait over a window whose
// samples were s0 and s1, per delivered message and per slice.
func setRunQueueWait(res *Result, s0, s1 schedStat, delivered uint64) {
	if s1.waited < s0.waited || s1.slices <= s0.slices || delivered == 0 {
		return // a thread ended with its counts, or nothing ran: not measured
	}
	waited, slices := s1.waited-s0.waited, s1.slices-s0.slices
	res.RunQueueWaitPerMsgMicros = float64(waited) / 1e3 / float64(delivered)
	res.RunQueueWaitPerSliceMicros = float64(waited) / 1e3 / float64(slices)
}
