package broker

import "sync"

// waits are what other goroutines wait on a connection for: its flusher to
// be done (closeWrites), a stop request (a reader waiting for room,
// backpressure.go), its cleanup (a takeover, lifecycle.go). Few connections
// ever have a waiter, and a sync.Cond and two channels in the client struct
// cost every idle one 72 bytes, so they are made on the first wait
// (docs/decisions/0041). Under wmu.
type waits struct {
	cond          sync.Cond
	stopped, done chan struct{}
}

// waits returns c's waits, making them on first use; wmu held.
func (c *client) waits() *waits {
	if c.wcond == nil {
		c.wcond = &waits{}
		c.wcond.cond.L = &c.wmu
	}
	return c.wcond
}

// Broadcast wakes whoever waits for the flusher, if anyone does; wmu held.
// Nil-safe: the write side calls it on every flush's end.
func (w *waits) Broadcast() {
	if w != nil {
		w.cond.Broadcast()
	}
}

// awaitFlusherLocked waits until no flusher holds the token; wmu held.
func (c *client) awaitFlusherLocked() {
	for c.flushing {
		c.waits().cond.Wait()
	}
}
