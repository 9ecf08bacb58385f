package broker

// Parking: a connection that has nothing to read for a while gives up its
// goroutine. Its socket goes into the broker's idle poller (epoll on Linux),
// and a keep-alive deadline in the poller's wheel (park_wheel.go) stands in
// for the read deadline. When the socket turns readable, the keep-alive runs
// out or the connection is kicked, a new goroutine resumes the read loop where
// it left off. An idle connection then costs its structs and its socket, not
// a goroutine stack (docs/decisions/0002-connection-memory.md, 0037).

// park hands the connection to the idle poller. It runs on the reader
// goroutine with nothing buffered, and reports false when the connection must
// keep its goroutine (no poller, no socket, or a kick raced with it).
func (c *client) park() bool {
	p := c.b.idlePoller()
	if p == nil || c.fd < 0 {
		return false
	}
	if c.keep > 0 {
		p.schedule(c, c.rd.lastRead.Add(c.keep))
	}
	op := p.prepare(c)
	c.parked.Store(true)
	if err := p.arm(c, op); err != nil {
		c.b.log.Debug().Err(err).Msg("parking failed")
		if c.parked.CompareAndSwap(true, false) {
			p.unschedule(c)
			return false
		}
		return true // someone unparked us already: their goroutine carries on
	}
	// A kick, or a keep-alive expiry, that came before parked was set
	// could not unpark us.
	if (c.stop.Load() != nil || c.keepExpired.Load()) && c.parked.CompareAndSwap(true, false) {
		p.unschedule(c)
		return false
	}
	return true
}

// unpark resumes a parked connection on a new goroutine; only the first of
// several wake-ups (readable, keep-alive, kick) does anything.
func (c *client) unpark() {
	if !c.parked.CompareAndSwap(true, false) {
		return
	}
	if p := c.b.idlePoller(); p != nil {
		p.unschedule(c)
	}
	c.b.wg.Add(1)
	go c.run()
}

// keepAliveExpired fires when a parked client sent nothing for 1.5 times its
// keep-alive [MQTT-3.1.2-22].
func (c *client) keepAliveExpired() {
	c.keepExpired.Store(true)
	c.unpark()
}

// register finds the connection's socket for the poller; called once after CONNACK.
func (c *client) register() {
	if c.rd.raw == nil || c.b.parkAfter <= 0 {
		return
	}
	_ = c.rd.raw.Control(func(fd uintptr) { c.fd = int32(fd) })
}

// unregister takes the socket out of the poller before it is closed.
func (c *client) unregister() {
	if c.armed {
		if p := c.b.idlePoller(); p != nil {
			p.forget(c)
		}
		c.armed = false
	}
}
