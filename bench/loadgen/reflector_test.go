//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/plumemq/plume/bench/internal/reflector"
)

// startReflector serves bench/internal/reflector on a free port until the
// test ends.
func startReflector(t *testing.T) string {
	t.Helper()
	r, addr, err := reflector.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve() }()
	t.Cleanup(func() {
		r.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
		r.Close()
	})
	return addr
}

// The reflector (the floor of decision 0040) answers the load generator's
// ping-pong at every QoS: every round trip ends, with each acknowledgement
// of both directions (QoS 2: PUBREC, PUBREL, PUBCOMP for the publish and for
// the delivery), nothing stray and no stall.
func TestReflectorAnswersPingPong(t *testing.T) {
	addr := startReflector(t)
	for _, name := range []string{"pingpong-q0-1", "pingpong-q1-1", "pingpong-q1-8", "pingpong-q2-1", "pingpong-q2-8"} {
		t.Run(name, func(t *testing.T) {
			spec, _ := pingScenario(name)
			res, err := runPingPong(spec, flowConfig{addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, payload: 64,
				stall: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.roundTrips == 0 || res.hist.n != res.roundTrips {
				t.Fatalf("%d round trips in the window, %d latencies", res.roundTrips, res.hist.n)
			}
			if res.stalls != 0 || res.stray != 0 || res.completed != res.sent {
				t.Fatalf("sent %d, completed %d, stray %d, stalls %d (waiting for %v)", res.sent, res.completed, res.stray, res.stalls, res.stalledOn)
			}
		})
	}
}

// A paced ping-pong keeps to its rate against a peer that could go much
// faster, and still ends every round trip.
func TestPacedPingPongKeepsItsRate(t *testing.T) {
	addr := startReflector(t)
	spec, ok := pingScenario("pingpong-q1-8-paced")
	if !ok || !spec.paced {
		t.Fatalf("pingpong-q1-8-paced parsed as %+v, %v", spec, ok)
	}
	const rate = 100 // per client: 8 x 100/s for 0.4 s is ~320 round trips
	start := time.Now()
	res, err := runPingPong(spec, flowConfig{addr: addr, warmup: 100 * time.Millisecond, window: 300 * time.Millisecond, payload: 64,
		stall: 20 * time.Second, pingRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	// The schedule starts before the warm-up and stops after the window
	// (the last round trips may run on while the clients are told to
	// stop): at most the rate over that time, plus one per client.
	elapsed := time.Since(start) // a bound on the time the clients ran, however slow the machine
	limit := uint64(8*rate*elapsed.Seconds()) + 8
	if res.sent == 0 || res.completed != res.sent || res.stalls != 0 {
		t.Fatalf("sent %d, completed %d, stalls %d", res.sent, res.completed, res.stalls)
	}
	if res.sent > limit {
		t.Fatalf("sent %d round trips in under %v at %d/s per client: not paced", res.sent, elapsed, rate)
	}
}

func TestPingScheduleSpreadsClients(t *testing.T) {
	if got := pingDue(0, 8, 0, 1000); got != 0 {
		t.Errorf("client 0's first round trip due at %v, want 0", time.Duration(got))
	}
	if got := pingDue(4, 8, 0, 1000); got != int64(500*time.Microsecond) {
		t.Errorf("client 4 of 8 at 1000/s first due at %v, want 500µs (half a period)", time.Duration(got))
	}
	if got := pingDue(4, 8, 3, 1000); got != int64(3500*time.Microsecond) {
		t.Errorf("client 4's fourth round trip due at %v, want 3.5ms", time.Duration(got))
	}
}
