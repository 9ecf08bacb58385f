package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// idleConfig sets the idle-connection scenario.
type idleConfig struct {
	addr        string
	pid         int
	conns       int
	concurrency int           // connections being opened at once
	settle      time.Duration // longest wait for RSS to stop moving
	// announce > 0 makes each connection an attacker of the read path: after
	// CONNECT it announces a PUBLISH of this many bytes and then sends one
	// byte every trickleEvery, never finishing it.
	announce int
	// hold keeps the connections open this long after the measurement, for
	// a look at the broker with a profiler.
	hold time.Duration
	// pingEvery > 0 makes each connection send a PINGREQ this often once
	// all are open (idleping.go); RSS is read after pingFor of it.
	pingEvery, pingFor time.Duration
}

const trickleEvery = 2 * time.Second

// announcement is a PUBLISH fixed header announcing n bytes, and the first
// byte of its body.
func announcement(n int) []byte {
	return append(wire.AppendFixedHeader(nil, wire.PUBLISH, 0, n), 0x00)
}

type idleResult struct {
	conns        int
	connectTime  time.Duration
	rssBeforeKiB int64
	rssAfterKiB  int64
	perConnKiB   float64
	// rssMidKiB is RSS with the first half of the connections open, and
	// marginalKiB the slope from there: (after - mid) / (conns - half). It
	// leaves out what does not grow with the connection count (the GC's
	// headroom over a small heap, pools, tables' first pages), which the
	// delta over the idle broker (perConnKiB) includes.
	rssMidKiB      int64
	marginalKiB    float64
	droppedByPeer  int64
	settleReadings []int64
	// With pings: how many were sent, answered and refused by the socket,
	// and the broker's CPU over pingWindow.
	pings, pongs, pingFails int64
	pingWindow, brokerCPU   time.Duration
}

// readRSS returns VmRSS of pid in KiB, from /proc/PID/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/%d/status", pid)
}

// stableRSS reads RSS every 500 ms until three readings in a row agree
// within 1%, or settle runs out, and returns the last reading.
func stableRSS(pid int, settle time.Duration) (int64, []int64, error) {
	var readings []int64
	deadline := time.Now().Add(settle)
	for {
		v, err := readRSS(pid)
		if err != nil {
			return 0, readings, err
		}
		readings = append(readings, v)
		if n := len(readings); n >= 3 {
			lo, hi := v, v
			for _, r := range readings[n-3:] {
				lo, hi = min(lo, r), max(hi, r)
			}
			if float64(hi-lo) <= 0.01*float64(hi) {
				return v, readings, nil
			}
		}
		if time.Now().After(deadline) {
			return v, readings, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func runIdle(cfg idleConfig) (res idleResult, err error) {
	before, _, err := stableRSS(cfg.pid, 5*time.Second)
	if err != nil {
		return res, err
	}
	res.rssBeforeKiB = before

	conns := make([]*conn, cfg.conns)
	var closedByPeer atomic.Int64
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.nc.Close()
			}
		}
		readers.Wait()
	}()

	start := time.Now()
	// Two waves, each dialled to its end, with RSS read between them for the
	// marginal cost; the connections and what is measured over them are
	// otherwise as in one wave.
	half := cfg.conns / 2
	var pings *pinger
	ka := uint16(keepAlive)
	if cfg.pingEvery > 0 {
		pings, ka = &pinger{every: cfg.pingEvery}, keepAliveFor(cfg.pingEvery)
	}
	dialer := manyDialer{workers: cfg.concurrency, what: "connection", total: cfg.conns, open: func(i int) error {
		c, err := dial(cfg.addr, fmt.Sprintf("bench-idle-%d", i), ka, 256)
		if err != nil {
			return err
		}
		conns[i] = c
		readers.Add(1)
		go func() {
			defer readers.Done()
			if pings != nil {
				if err := pings.readPongs(c); !isClosed(err) {
					closedByPeer.Add(1)
				}
				return
			}
			var buf [64]byte
			// Idle clients expect nothing; a read returning means the
			// broker closed the connection (or we did, at the end).
			if _, err := c.nc.Read(buf[:]); err != nil {
				closedByPeer.Add(1)
			}
		}()
		if cfg.announce > 0 {
			if _, err := c.nc.Write(announcement(cfg.announce)); err != nil {
				return fmt.Errorf("announcement: %w", err)
			}
		}
		return nil
	}}
	if err := dialer.run(0, half); err != nil {
		return res, err
	}
	connecting := time.Since(start)
	mid, _, err := stableRSS(cfg.pid, cfg.settle)
	if err != nil {
		return res, err
	}
	res.rssMidKiB = mid
	restart := time.Now()
	if err := dialer.run(half, cfg.conns); err != nil {
		return res, err
	}
	res.conns = cfg.conns
	res.connectTime = connecting + time.Since(restart)
	if cfg.announce > 0 {
		stop := make(chan struct{})
		defer close(stop)
		go trickle(conns, stop)
	}

	var after int64
	var readings []int64
	if pings != nil {
		after, readings, err = pingPhase(cfg, pings, conns, &res)
	} else {
		after, readings, err = stableRSS(cfg.pid, cfg.settle)
	}
	if err != nil {
		return res, err
	}
	res.rssAfterKiB, res.settleReadings = after, readings
	res.perConnKiB = float64(after-before) / float64(cfg.conns)
	// With pings the slope would mix a quiet half with a pinging whole.
	if n := cfg.conns - half; n > 0 && pings == nil {
		res.marginalKiB = float64(after-mid) / float64(n)
	}
	res.droppedByPeer = closedByPeer.Load()
	if cfg.hold > 0 {
		fmt.Fprintf(os.Stderr, "loadgen: %d connections measured (%.2f KiB each); holding them for %s\n", cfg.conns, res.perConnKiB, cfg.hold)
		time.Sleep(cfg.hold)
	}
	return res, nil
}

// trickle sends one more byte on every connection each trickleEvery: enough
// progress to never look stalled, never enough to finish a packet.
func trickle(conns []*conn, stop <-chan struct{}) {
	t := time.NewTicker(trickleEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, c := range conns {
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.nc.Write([]byte{'x'})
			}
		}
	}
}
