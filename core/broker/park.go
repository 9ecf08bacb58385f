package broker

import (
	"sync/atomic"
	"time"
)

// Parking: a connection that has nothing to read for a while gives up its
// goroutine. Its socket goes into the broker's idle poller (epoll on Linux),
// and a keep-alive deadline in the poller's wheel (park_wheel.go) stands in
// for the read deadline. When the socket turns readable, the keep-alive runs
// out or the connection is kicked, a new goroutine resumes the read loop where
// it left off. An idle connection then costs its structs and its socket, not
// a goroutine stack (docs/decisions/0002-connection-memory.md, 0037). A
// connection that the poller woke only for keep-alive traffic parks again as
// soon as it has answered (park_repark.go, 0047).

// park hands the connection to the idle poller. It runs on the reader
// goroutine with nothing buffered (or on the poller's, which answered a
// PINGREQ for it: park_ping_linux.go), and reports false when the connection must
// keep its goroutine (no poller, no socket, or a kick raced with it).
//
// Unless a flusher is writing to it, the connection parks detached: it keeps
// its socket number and lets its net.Conn go (park_detach.go). Detaching,
// registering and marking it parked happen under wmu, so that a writer
// meets either the attached connection or a parked, detached one, never
// one half-way.
func (c *client) park() bool { return c.parkAs(false, false) }

// armMode is how a connection's socket is in the poller's set.
type armMode uint8

const (
	armNone  armMode = iota // not in the set
	armOnce                 // one-shot: the first event wakes a goroutine (park)
	armLevel                // level-triggered: served inline on the poller (inline_linux.go)
)

// parkAs is park; inline parks the connection for the poller to serve
// inline when it turns readable, its socket watched level-triggered
// (inline_linux.go). keep: the poller re-parks a connection it served
// inline, whose socket is still in the set as it must be.
func (c *client) parkAs(inline, keep bool) bool {
	p := c.b.idlePoller()
	if p == nil || c.fd < 0 {
		return false
	}
	if c.keepAlive > 0 {
		p.schedule(c, c.rd.readAt().Add(c.keepLimit()))
	}
	c.wmu.Lock()
	c.writeAttached = false
	switch {
	case c.wclosed: // it is ending: unpark follows
	case c.flushing:
		// A flusher is writing (the CONNACK, often): it detaches the
		// connection when it is done (flushedLocked).
		c.detachOnFlush = true
	default:
		if err := c.detachLocked(p); err != nil {
			// Parks attached, as before detaching existed: it costs memory, not correctness.
			c.logDebug().Err(err).Msg("parking with the connection attached")
		}
	}
	var err error
	if keep && c.armed == armLevel {
		c.parked.Store(true)
	} else {
		mode := armOnce
		if inline {
			mode = armLevel
		}
		add := p.prepare(c, mode)
		c.parked.Store(true)
		err = p.arm(c, c.fd, add, inline)
	}
	if err != nil {
		p.disarm(int(c.fd))
		c.armed = armNone
	}
	c.wmu.Unlock()
	if err != nil {
		c.logDebug().Err(err).Msg("parking failed")
		if c.parked.CompareAndSwap(true, false) {
			p.unschedule(c)
			c.attach()
			return false
		}
		return true // someone unparked us already: their goroutine carries on
	}
	// A kick, or a keep-alive expiry, that came before parked was set
	// could not unpark us.
	if (c.stop.Load() != nil || c.keepExpired.Load()) && c.parked.CompareAndSwap(true, false) {
		p.unschedule(c)
		c.attach()
		return false
	}
	return true
}

// parkFromServe is park for a running reader, whose batch is flushed: the
// batch goes back to the pool first, because once parked, the goroutine
// that unparks the connection may start run, and its own batch, at once.
func (c *client) parkFromServe() bool {
	fb := c.batch
	c.batch = nil
	if c.park() {
		putBatch(fb)
		return true
	}
	c.batch = fb
	return false
}

// unpark resumes a parked connection on a new goroutine; only the first of
// several wake-ups (readable, keep-alive, kick) does anything.
func (c *client) unpark() {
	if c.parked.CompareAndSwap(true, false) {
		c.wake()
	}
}

// wake starts the goroutine of a connection that was parked, for whoever
// took it out of the poller (unpark, poller.readable).
func (c *client) wake() {
	if p := c.b.idlePoller(); p != nil {
		p.unschedule(c)
	}
	c.b.wg.Add(1)
	go c.resume()
}

// resume is the woken connection's goroutine: it gets its net.Conn back, if
// it parked without one, and carries on reading. The rebuild runs here
// rather than in unpark, which the poller's one goroutine and kicks made
// under the broker's lock call.
func (c *client) resume() {
	if seen := resumeSeam.Load(); seen != nil {
		(*seen)(c.info.ID)
	}
	c.attach()
	if wait := c.readWait(); wait > 0 && !c.rd.empty() {
		// Bytes the poller read and handed over (park_ping_linux.go): serve
		// sets the read deadline only before it waits with nothing
		// buffered, and the rebuilt conn has none, so the rest of a packet
		// they begin would be waited for without the stall limit or the
		// keep-alive.
		_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	}
	c.run()
}

// resumeSeam, when set by a test, is told of every wake-up by client id: a
// socket number reused after a close must never wake the wrong connection.
var resumeSeam atomic.Pointer[func(id string)]

// keepAliveExpired fires when a parked client sent nothing for 1.5 times its
// keep-alive [MQTT-3.1.2-22].
func (c *client) keepAliveExpired() {
	c.keepExpired.Store(true)
	c.unpark()
}

// register finds the connection's socket for the poller; called once after CONNACK.
func (c *client) register() {
	raw := c.rd.raw()
	if raw == nil || c.b.parkAfter <= 0 {
		return
	}
	fd := int32(-1)
	_ = raw.Control(func(s uintptr) { fd = int32(s) })
	c.wmu.Lock() // fd is under wmu: the client is already in the broker's tables
	c.fd = fd
	c.wmu.Unlock()
}

// unregister takes the socket out of the poller before it is closed. The
// connection leaves the broker's connTable, where the poller looks it up,
// when it is untracked.
func (c *client) unregister() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.armed != armNone {
		c.b.idlePoller().disarm(int(c.fd))
		c.armed = armNone
	}
}
