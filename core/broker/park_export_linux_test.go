package broker

import "time"

// DetachedCount is the number of connections parked without their net.Conn
// (park_detach.go), for tests that must know a connection let it go.
func (b *Broker) DetachedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	b.conns.each(func(c *client) bool {
		c.wmu.Lock()
		if c.parked.Load() && c.conn == nil {
			n++
		}
		c.wmu.Unlock()
		return true
	})
	return n
}

// WriteAttaches is how many times a writer rebuilt a parked connection's
// net.Conn, since the process started.
func WriteAttaches() uint64 { return writeAttaches.Load() }

// ClientSocket is the socket number the broker holds for client id, -1 if
// none: the duplicate while detached, the net.Conn's otherwise.
func (b *Broker) ClientSocket(id string) int {
	fd := -1
	b.withClientLocked(id, func(c *client) { fd = int(c.fd) })
	return fd
}

// withClientLocked runs f on client id's connection with its write lock
// held, the lock under which park_detach.go swaps the conn and the socket.
func (b *Broker) withClientLocked(id string, f func(c *client)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns.each(func(c *client) bool {
		if c.info.ID != id {
			return true
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		f(c)
		return false
	})
}

// SetResumeSeam has f told the client id of every parked connection that
// wakes up, until the returned function is called.
func SetResumeSeam(f func(id string)) (restore func()) {
	resumeSeam.Store(&f)
	return func() { resumeSeam.Store(nil) }
}

// IsDetached reports whether client id is parked without its net.Conn.
func (b *Broker) IsDetached(id string) bool {
	detached := false
	b.withClientLocked(id, func(c *client) { detached = c.parked.Load() && c.conn == nil })
	return detached
}

// ReparkQuiet is the silence before a wake after which keep-alive traffic
// parks the connection again at once (park_repark.go).
const ReparkQuiet = reparkQuiet

// SetReparkQuiet replaces ReparkQuiet until the returned function is called.
func SetReparkQuiet(d time.Duration) (restore func()) {
	reparkQuietSeam.Store(&d)
	return func() { reparkQuietSeam.Store(nil) }
}

// HoldsReadBuffer reports whether client id's reader holds a pooled read
// buffer: a parked connection must not.
func (b *Broker) HoldsReadBuffer(id string) bool {
	holds := false
	b.withClientLocked(id, func(c *client) { holds = c.rd.buf != nil })
	return holds
}

// PollerPings is how many PINGREQs the idle poller answered itself
// (park_ping_linux.go), since the process started.
func PollerPings() uint64 { return pollerPings.Load() }

// PollerInRuntime reports whether the idle poller waits in the runtime's
// network poller (park_wait_linux.go) rather than in a blocking epoll_wait.
func (b *Broker) PollerInRuntime() bool {
	p := b.idlePoller()
	return p != nil && p.raw != nil
}
