package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// packet decodes one encoded packet, as the client's reader would.
func packet(t *testing.T, b []byte) wire.Header {
	t.Helper()
	h, _, err := wire.Read(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// delivery is the broker's PUBLISH of a ping-pong payload for client idx,
// sequence seq, sent at sentAt.
func delivery(t *testing.T, qos byte, id uint16, idx uint32, seq uint64, sentAt int64) wire.Header {
	p := make([]byte, 64)
	binary.BigEndian.PutUint64(p, uint64(sentAt))
	binary.BigEndian.PutUint32(p[8:], idx)
	binary.BigEndian.PutUint64(p[12:], seq)
	return packet(t, wire.AppendPublish(nil, "bench/ping/3", qos, false, id, p))
}

func TestPingPongNames(t *testing.T) {
	for name, want := range map[string]pingSpec{"pingpong-q0-1": {1, 0, false}, "pingpong-q1-8": {8, 1, false}, "pingpong-q2-8": {8, 2, false},
		"pingpong-q0-8-paced": {8, 0, true}} {
		if got, ok := pingScenario(name); !ok || got != want {
			t.Errorf("pingScenario(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, bad := range []string{"pingpong-q3-1", "pingpong-q1-0", "pingpong-q1", "pairs", "pingpong-qx-8", "pingpong-q0-8-pacedx"} {
		if _, ok := pingScenario(bad); ok {
			t.Errorf("pingScenario(%q) accepted", bad)
		}
	}
}

// A round trip ends only on the client's own message of the current
// sequence: another client's, or an earlier one that arrives after a stall,
// is counted as stray and does not end it.
func TestPingRoundTripMatchesItsOwnCurrentMessage(t *testing.T) {
	s := pingState{idx: 3, qos: 0}
	pub := packet(t, s.next(nil, "bench/ping/3", make([]byte, 64), 1000))
	if m, _ := wire.ParsePublish(pub.Flags, pub.Body); m.QoS != 0 || binary.BigEndian.Uint64(m.Payload[12:]) != 1 {
		t.Fatalf("first PUBLISH %+v, want QoS 0 with sequence 1", m)
	}
	for _, stray := range []wire.Header{delivery(t, 0, 0, 4, 1, 1000), delivery(t, 0, 0, 3, 0, 500)} {
		if out, err := s.handle(stray, 2000, nil); err != nil || len(out) != 0 {
			t.Fatalf("stray delivery answered % x, %v", out, err)
		}
		if s.complete() {
			t.Fatal("a stray delivery completed the round trip")
		}
	}
	if _, err := s.handle(delivery(t, 0, 0, 3, 1, 1000), 1750, nil); err != nil {
		t.Fatal(err)
	}
	if !s.complete() || s.latency != 750 || s.stray != 2 {
		t.Fatalf("after its own delivery: complete %v, latency %v, stray %d; want true, 750ns, 2", s.complete(), s.latency, s.stray)
	}
	// A duplicate of it is stray too.
	if _, _ = s.handle(delivery(t, 0, 0, 3, 1, 1000), 1800, nil); s.stray != 3 {
		t.Fatalf("duplicate not counted as stray: %d", s.stray)
	}
}

// At QoS 1 the round trip also waits for the PUBACK of our own PUBLISH, and
// the client acknowledges the delivery.
func TestPingRoundTripQoS1WaitsForItsPubAck(t *testing.T) {
	s := pingState{idx: 3, qos: 1}
	s.next(nil, "bench/ping/3", make([]byte, 64), 0)
	out, _ := s.handle(delivery(t, 1, 77, 3, 1, 0), 10, nil)
	if !bytes.Equal(out, wire.AppendPubAck(nil, 77)) {
		t.Fatalf("delivery answered % x, want PUBACK 77", out)
	}
	if s.complete() {
		t.Fatal("complete before our PUBACK")
	}
	_, _ = s.handle(packet(t, wire.AppendPubAck(nil, s.pid+1)), 20, nil)
	if s.complete() {
		t.Fatal("another packet id's PUBACK completed the round trip")
	}
	_, _ = s.handle(packet(t, wire.AppendPubAck(nil, s.pid)), 20, nil)
	if !s.complete() {
		t.Fatal("not complete after delivery and PUBACK")
	}
}

// At QoS 2 both exchanges run to their end: PUBREC answered with PUBREL,
// then PUBCOMP, for our PUBLISH; PUBREC for the delivery, then the broker's
// PUBREL answered with PUBCOMP.
func TestPingRoundTripQoS2RunsBothHandshakes(t *testing.T) {
	s := pingState{idx: 3, qos: 2}
	s.next(nil, "bench/ping/3", make([]byte, 64), 0)
	steps := []struct {
		in   wire.Header
		want []byte
	}{
		{packet(t, wire.AppendPubRec(nil, s.pid)), wire.AppendPubRel(nil, s.pid)},
		{delivery(t, 2, 9, 3, 1, 0), wire.AppendPubRec(nil, 9)},
		{packet(t, wire.AppendPubRel(nil, 9)), wire.AppendPubComp(nil, 9)},
		{packet(t, wire.AppendPubComp(nil, s.pid)), nil},
	}
	for i, st := range steps {
		if s.complete() {
			t.Fatalf("complete before step %d", i)
		}
		out, err := s.handle(st.in, 5, nil)
		if err != nil || !bytes.Equal(out, st.want) {
			t.Fatalf("step %d answered % x, %v; want % x", i, out, err, st.want)
		}
	}
	if !s.complete() {
		t.Fatalf("not complete after both handshakes: %+v", s)
	}
	// The next round trip uses a new packet id and starts incomplete.
	old := s.pid
	s.next(nil, "bench/ping/3", make([]byte, 64), 10)
	if s.pid == old || s.complete() {
		t.Fatalf("next round trip: pid %d (was %d), complete %v", s.pid, old, s.complete())
	}
}

// A stalled round trip names every event it still waits for: the broker
// that acknowledged our publish and never delivered it shows as such.
func TestStalledRoundTripNamesEveryMissingEvent(t *testing.T) {
	s := pingState{idx: 3, qos: 2}
	s.next(nil, "bench/ping/3", make([]byte, 64), 0)
	if got, want := s.waitingFor(), "delivery + ack of our publish + PUBREL of the delivery"; got != want {
		t.Fatalf("nothing received: waiting for %q, want %q", got, want)
	}
	for _, h := range []wire.Header{packet(t, wire.AppendPubRec(nil, s.pid)), packet(t, wire.AppendPubComp(nil, s.pid))} {
		if _, err := s.handle(h, 5, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := s.waitingFor(), "delivery + PUBREL of the delivery"; got != want {
		t.Fatalf("our publish completed: waiting for %q, want %q", got, want)
	}
}

func TestHistogramTailQuantile(t *testing.T) {
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	want := 9990 * time.Microsecond
	if got := h.quantile(0.999); got < want-want/50 || got > want+want/50 {
		t.Fatalf("p999 = %v, want %v within 2%%", got, want)
	}
	var one histogram
	one.record(42 * time.Microsecond)
	if p := one.quantile(0.999); p > 42*time.Microsecond || p < 41*time.Microsecond {
		t.Fatalf("p999 of one sample = %v, want ~42us", p)
	}
}

// The open-loop schedules: message n at n/rate, and device i of n at i/n of
// the period, so the broker sees an even rate rather than bursts.
func TestOpenLoopSchedules(t *testing.T) {
	if got := scheduled(1000, 1000); got != int64(time.Second) {
		t.Errorf("scheduled(1000, 1000) = %v, want 1s", time.Duration(got))
	}
	if got := scheduled(3, 1000); got != int64(3*time.Millisecond) {
		t.Errorf("scheduled(3, 1000) = %v, want 3ms", time.Duration(got))
	}
	if got := fleetOffset(2500, 10000, time.Second); got != 250*time.Millisecond {
		t.Errorf("fleetOffset(2500 of 10000) = %v, want 250ms", got)
	}
	if got := fleetOffset(9999, 10000, time.Second); got >= time.Second {
		t.Errorf("last device's offset %v is not within the period", got)
	}
}

// Open-loop results are compared per broker CPU-second and by p99, never by
// msgs/s (the load generator's rate), and every ratio carries its regime.
func TestRatiosCarryTheirRegime(t *testing.T) {
	p := &Result{Broker: subject, Scenario: "fanout-paced", InFlight: "open loop at 1000 msg/s", RatePerSec: 1000,
		MsgsPerSec: 32000, MsgsPerCPUSec: 100000, P99Micros: 200}
	q := &Result{Broker: "mosquitto", Scenario: "fanout-paced", MsgsPerSec: 32000, MsgsPerCPUSec: 200000, P99Micros: 100}
	got := map[string]float64{}
	for _, r := range peerRatios("", p, q) {
		if r.InFlight != p.InFlight {
			t.Errorf("%s ratio without its regime: %+v", r.Metric, r)
		}
		got[r.Metric] = r.Ratio
	}
	if _, ok := got["msgs_per_s"]; ok {
		t.Error("open-loop scenario compared by msgs/s")
	}
	if got["msgs_per_broker_cpu_s"] != 0.5 || got["p99_us"] != 2 {
		t.Errorf("ratios %v, want msgs/CPU-s 0.5 and p99 2", got)
	}

	runs := medianRuns([]Result{
		{Broker: subject, Scenario: "fleet", RatePerSec: 10000, MsgsPerSec: 100000, MsgsPerCPUSec: 3},
		{Broker: subject, Scenario: "fleet", RatePerSec: 10000, MsgsPerSec: 100001, MsgsPerCPUSec: 1},
		{Broker: subject, Scenario: "fleet", RatePerSec: 10000, MsgsPerSec: 99999, MsgsPerCPUSec: 2},
	})
	if len(runs) != 1 || runs[0].MsgsPerCPUSec != 2 || runs[0].MedianBy != "msgs_per_broker_cpu_s" {
		t.Errorf("median of open-loop runs = %+v, want the one at 2 msgs/CPU-s", runs)
	}
}

// The latency-bound scenarios run end to end against mochi in-process and
// account for every message: each ping-pong round trip ends, the paced
// fan-out and the fleet lose nothing.
func TestLatencyScenariosAccountForEveryMessage(t *testing.T) {
	addr := startMochi(t)
	for _, name := range []string{"pingpong-q0-1", "pingpong-q1-8", "pingpong-q2-8"} {
		t.Run(name, func(t *testing.T) {
			spec, _ := pingScenario(name)
			res, err := runPingPong(spec, flowConfig{addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, payload: 64,
				stall: 20 * time.Second, // a slow round trip on a loaded machine is not a stall
				pid:   os.Getpid()})     // the broker is in-process
			if err != nil {
				t.Fatal(err)
			}
			// The broker's run-queue figures come from its threads' slices in the window.
			if _, err := processSched(os.Getpid()); err == nil && (!res.schedOK || res.sched1.slices <= res.sched0.slices) {
				t.Fatalf("scheduler statistics not sampled around the window: %+v -> %+v (read: %v)", res.sched0, res.sched1, res.schedOK)
			}
			if res.roundTrips == 0 || res.hist.n != res.roundTrips || res.roundTrips >= res.completed {
				t.Fatalf("%d round trips in the window, %d latencies, %d completed in all", res.roundTrips, res.hist.n, res.completed)
			}
			if res.stalls != 0 || res.stray != 0 || res.completed != res.sent {
				t.Fatalf("sent %d, completed %d, stray %d, stalls %d (waiting for %v)", res.sent, res.completed, res.stray, res.stalls, res.stalledOn)
			}
		})
	}
	t.Run("fanout-paced", func(t *testing.T) {
		spec := scenarios["fanout-paced"]
		res, err := runFlow(spec, flowConfig{addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond,
			drain: 5 * time.Second, outstanding: 1000, payload: 64, bufSize: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		// At 1,000 msg/s the publisher sends about 350 in 350 ms; far
		// more would mean it is not paced.
		if res.sent == 0 || res.sent > 2000 || res.lost != 0 || res.received != 32*res.sent {
			t.Fatalf("sent %d, received %d, lost %d", res.sent, res.received, res.lost)
		}
	})
	t.Run("fleet", func(t *testing.T) {
		res, err := runFleet(fleetConfig{addr: addr, devices: 50, subs: 2, period: 100 * time.Millisecond,
			concurrency: 8, connectRate: 1000, senders: 4, warmup: 100 * time.Millisecond,
			window: 300 * time.Millisecond, drain: 5 * time.Second, payload: 64})
		if err != nil {
			t.Fatal(err)
		}
		if res.sent == 0 || res.acked != res.sent || res.received != 2*res.sent || res.hist.n == 0 {
			t.Fatalf("sent %d, acked %d, received %d (want 2 per reading), %d latencies", res.sent, res.acked, res.received, res.hist.n)
		}
	})
}
