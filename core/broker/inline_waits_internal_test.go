package broker

import (
	"testing"
	"time"
)

// TestRecentWaitsFindAPeerWithinTheWindow: a connection is never its own
// peer, waiting twice in a row keeps the other one as its peer, and a peer
// further than peerWindow away does not count.
func TestRecentWaitsFindAPeerWithinTheWindow(t *testing.T) {
	us := func(n int64) int64 { return n * int64(time.Microsecond) }
	var w recentWaits
	for i, step := range []struct {
		conn uintptr
		at   int64
		want bool
	}{
		{1, us(0), false},    // nobody else yet
		{1, us(100), false},  // still nobody else
		{2, us(200), true},   // 1 waited 100 µs ago
		{2, us(300), true},   // served twice in a row: 1 is still its peer
		{2, us(1200), false}, // 1 last waited 1.1 ms ago
		{1, us(1300), true},  // 2 waited 100 µs ago
		{3, us(5000), false}, // 1 waited 3.7 ms ago
		{3, us(5100), false}, // alone since
		{1, us(4900), true},  // a clock read before a racing waiter's: 3 is 100 µs away
	} {
		if got := w.record(step.conn, step.at); got != step.want {
			t.Fatalf("step %d: connection %d at %v: peer %v, want %v", i, step.conn, time.Duration(step.at), got, step.want)
		}
	}
}
