package broker

import (
	"sync"
	"time"
)

// peerWindow is how close together two connections' waits for their next
// packet must come for both to be served inline. Eight clients with one
// message in flight each wait every few microseconds between them; one
// client alone never meets another within it.
const peerWindow = int64(time.Millisecond)

// busyWindow is how soon after its previous wait a connection must wait
// again to be served inline: ping-pong clients come back within
// microseconds, a fleet's devices once a second. Ten thousand devices on the
// poller's one thread queued behind each other (fleet p50 2–21 ms against
// main's 0.3–0.5; docs/decisions/0051); on their goroutines they do not.
const busyWindow = int64(10 * time.Millisecond)

// minSmallRun is how many waits in a row after a small batch a reader
// makes before it is served inline. A connection whose reads come in bursts
// — a wildcard subscriber acknowledging thousands of deliveries a second —
// is handed back to its goroutine by the first big batch; without a run
// first, it entered again at its next small one, and every entry detaches
// the connection and every exit rebuilds it (fleet p50 1.5x main's, 0051).
const minSmallRun = 16

// inlineAfter reports whether a reader that waited run times in a row after
// a small batch may be served inline.
func (b *Broker) inlineAfter(run int) bool { return run >= minSmallRun || b.inlineAlone.Load() }

// recentWaits are the last two different connections that waited, and
// when: the last one may be the caller itself (the poller serves one
// connection twice in a row), and the other one is then its peer.
type recentWaits struct {
	mu            sync.Mutex
	last, before  uintptr
	lastAt, befAt int64
}

// record notes that connection me waits at now and reports whether
// another one waited within peerWindow of it.
func (w *recentWaits) record(me uintptr, now int64) bool {
	w.mu.Lock()
	if w.last != me {
		w.before, w.befAt = w.last, w.lastAt
		w.last = me
	}
	w.lastAt = now
	peer, at := w.before, w.befAt
	w.mu.Unlock()
	d := now - at
	return peer != 0 && d < peerWindow && d > -peerWindow
}
