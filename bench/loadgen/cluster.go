package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// The cluster benchmark (bench/cluster.sh) runs the throughput scenarios
// against several Plume nodes at once: publishers on some nodes, subscribers
// on others (-pub-addrs, -sub-addrs), the broker's CPU summed over every
// node's process (-pid and -pids).

// pick returns the address client i of one side dials: addrs[i%len], or
// fallback when the side has no list.
func pick(addrs []string, i int, fallback string) string {
	if len(addrs) == 0 {
		return fallback
	}
	return addrs[i%len(addrs)]
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parsePids parses -pids.
func parsePids(s string) ([]int, error) {
	var pids []int
	for _, f := range splitList(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("-pids %q: %w", s, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// loadAvg1 is the machine's one-minute load average (/proc/loadavg), 0 if
// unknown: a figure from two shared cores means little without it.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}

// probePub is the publisher index a probe's payload carries: no subscriber
// counts it (subscriber.handle ignores indexes past its publishers).
const probePub = math.MaxUint32

// awaitInterest makes sure that each subscriber's subscription has reached
// the node of every publisher that feeds it: a node learns another node's
// interest asynchronously (decision 0052), and a message published before
// that is not carried. For each (publisher node, subscriber) pair it
// publishes a QoS 0 probe on the publisher's topic from that node every
// 20 ms until the subscriber reads one. Call it before the readers start.
func awaitInterest(spec flowSpec, cfg flowConfig, subs []*conn, timeout time.Duration) error {
	type pair struct {
		addr string
		sub  int
	}
	done := map[pair]bool{}
	for i := range spec.pubs {
		addr := pick(cfg.pubAddrs, i, cfg.addr)
		for _, s := range spec.receives(i) {
			if done[pair{addr, s}] {
				continue
			}
			done[pair{addr, s}] = true
			if err := probe(addr, spec.topic(i), subs[s], timeout); err != nil {
				return fmt.Errorf("subscriber %d on %s not reached from %s: %w",
					s, pick(cfg.subAddrs, s, cfg.addr), addr, err)
			}
		}
	}
	return nil
}

// probe publishes probes on topic from addr until sub reads a PUBLISH.
func probe(addr, topic string, sub *conn, timeout time.Duration) error {
	pc, err := dial(addr, "bench-probe", keepAlive, 4096)
	if err != nil {
		return err
	}
	defer pc.close()
	got := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			h, b, err := wire.Read(sub.r, buf)
			buf = b
			if err != nil || h.Type == wire.PUBLISH {
				got <- err
				return
			}
		}
	}()
	payload := make([]byte, payloadHeader)
	binary.BigEndian.PutUint32(payload[8:], probePub)
	pkt := wire.AppendPublish(nil, topic, 0, false, 0, payload)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		if _, err := pc.nc.Write(pkt); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		select {
		case err := <-got:
			return err
		case <-deadline:
			sub.nc.Close() // ends the reading goroutine
			<-got
			return fmt.Errorf("no probe arrived in %s", timeout)
		case <-tick.C:
		}
	}
}
