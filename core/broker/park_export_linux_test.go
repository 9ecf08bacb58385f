package broker

// DetachedCount is the number of connections parked without their net.Conn
// (park_detach.go), for tests that must know a connection let it go.
func (b *Broker) DetachedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.clients {
		c.wmu.Lock()
		if c.parked.Load() && c.conn == nil {
			n++
		}
		c.wmu.Unlock()
	}
	return n
}

// WriteAttaches is how many times a writer rebuilt a parked connection's
// net.Conn, since the process started.
func WriteAttaches() uint64 { return writeAttaches.Load() }

// ClientSocket is the socket number the broker holds for client id, -1 if
// none: the duplicate while detached, the net.Conn's otherwise.
func (b *Broker) ClientSocket(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.clients {
		if c.info.ID == id {
			c.wmu.Lock()
			defer c.wmu.Unlock()
			return int(c.fd)
		}
	}
	return -1
}

// SetResumeSeam has f told the client id of every parked connection that
// wakes up, until the returned function is called.
func SetResumeSeam(f func(id string)) (restore func()) {
	resumeSeam.Store(&f)
	return func() { resumeSeam.Store(nil) }
}

// IsDetached reports whether client id is parked without its net.Conn.
func (b *Broker) IsDetached(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.clients {
		if c.info.ID == id {
			c.wmu.Lock()
			defer c.wmu.Unlock()
			return c.parked.Load() && c.conn == nil
		}
	}
	return false
}
