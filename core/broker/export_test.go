package broker

import (
	"maps"
	"slices"
	"time"

	"github.com/plumemq/plume/core/session"
)

// ParkedCount is the number of connections waiting in the idle poller, for
// tests that must know a connection is parked before they act.
func (b *Broker) ParkedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	b.conns.each(func(c *client) bool {
		if c.parked.Load() {
			n++
		}
		return true
	})
	return n
}

// SetRetainSeams installs the test seams of a retained publish: stored runs
// after the retained message is stored and before it is routed; contended runs
// when the publish finds its topic's order lock held by another. Set them
// before any client connects.
func SetRetainSeams(b *Broker, stored, contended func(m *session.Message)) {
	b.retainStored, b.orderWait = stored, contended
}

// SetReleaseWaits installs the test seam that runs when Release waits for a
// CONNECT to attach to the session it took over.
func SetReleaseWaits(b *Broker, waits func()) { b.releaseWaits = waits }

// Released lists the sessions whose let-go Release did not see committed
// and a CONNECT here would wait for.
func Released(b *Broker) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.released))
}

// WaitCommitted waits until the journal has committed what it holds now.
func WaitCommitted(b *Broker, d time.Duration) bool { return b.journal.Wait(b.journal.Latest(), d) }
