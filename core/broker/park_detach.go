package broker

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
)

// Detaching: a parked plain-TCP connection keeps only its socket number.
// Go's net.Conn costs ~0.95 KiB of RSS by itself (its netFD, two addresses
// and the runtime's pollDesc; docs/decisions/0037), more than the rest of an
// idle connection's budget. So park duplicates the socket, closes the
// net.Conn (the runtime lets go of its poll descriptor; the socket lives on
// in the duplicate, so the peer sees nothing) and waits on the duplicate.
// Whatever must then read or write the connection attaches it first: the
// reader when it wakes (client.resume), a writer when it takes the flushing
// token (client.endIn). Both do so under wmu, the lock every writer takes;
// c.conn, c.rd.src, c.fd and c.armed change only under it, and
// c.conn == nil means detached (docs/decisions/0041).
//
// TLS and WebSocket connections never get here: they have no raw socket
// (c.fd < 0), never park, and keep their conn for life.

// detachLocked swaps the net.Conn for a duplicate of its socket; wmu held,
// no flusher running. On failure the conn is kept as it was.
func (c *client) detachLocked(p *poller) error {
	if c.conn == nil {
		return nil
	}
	dup, err := dupSocket(int(c.fd))
	if err != nil {
		return fmt.Errorf("duplicate socket %d: %w", c.fd, err)
	}
	if c.armed != armNone {
		// The number about to close must leave the poller's set first: epoll
		// keeps a closed number's entry while another descriptor (dup) holds
		// the socket open, and would report its events for ever.
		p.disarm(int(c.fd))
		c.armed = armNone
	}
	_ = c.conn.Close() // the duplicate keeps the socket: no FIN
	c.conn, c.rd.src = nil, nil
	c.fd = int32(dup)
	return nil
}

// redetachParked detaches c again if it is still parked with its net.Conn
// and no flusher; the poller calls it on its tick (poller.redetachQueued).
// It reports whether c should be tried again on the next tick.
func (c *client) redetachParked(p *poller) (again bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.flushing && c.parked.Load() && c.conn != nil {
		return true
	}
	c.redetachLocked(p)
	return false
}

// flushedLocked runs when a flusher gives up the flushing token with
// nothing left to write (writer.go); wmu held. A connection that parked
// while it was being written to, or that a writer attached while parked,
// lets its net.Conn go again now.
func (c *client) flushedLocked() {
	if c.detachOnFlush {
		c.detachOnFlush = false
		c.redetachLocked(c.b.poll)
	}
}

// redetachLocked detaches c if it is parked with its net.Conn and no one
// writes to it; wmu held.
func (c *client) redetachLocked(p *poller) {
	if !c.parked.Load() || c.conn == nil || c.wclosed || c.flushing {
		return // awake (it parks itself, detached), detached, ending or written to
	}
	mode := c.armed // detaching takes the old number out of the set
	if err := c.detachLocked(p); err != nil {
		c.logDebug().Err(err).Msg("detaching a parked connection failed")
		return
	}
	// detachLocked took the old number out of the set: watch the new one.
	// Should c have woken meanwhile (unpark does not take wmu), its
	// goroutine attaches it on this same number, whose entry then stays as
	// any woken connection's does.
	if err := p.arm(c, c.fd, true, mode == armLevel); err != nil {
		// Nothing would tell us it is readable: give it its goroutine back.
		c.logDebug().Err(err).Msg("re-arming a detached connection failed")
		c.unpark()
		return
	}
	c.armed = max(mode, armOnce)
}

// attach gives a detached connection its net.Conn back, for the reader.
func (c *client) attach() {
	c.wmu.Lock()
	c.attachLocked()
	c.wmu.Unlock()
}

// attachLocked rebuilds the net.Conn of a detached connection; wmu held.
// The socket number stays the same, so the poller's entry for it (armed or
// spent) stays as it is: a connection a writer attaches while parked still
// wakes when readable.
//
// The rebuilt conn is the socket as an *os.File, which the runtime polls
// as it does a net.Conn's (deadlines, RawConn), for two system calls (the
// flags, the poller's registration); net.FileConn took about twenty (one
// more descriptor, the addresses, five TCP options reset to Go's defaults).
// The broker read the addresses once, at accept (hooks.Client.RemoteAddr).
func (c *client) attachLocked() {
	if c.conn != nil {
		return
	}
	f := os.NewFile(uintptr(c.fd), "socket")
	raw, _ := f.SyscallConn() // fails only for a nil file
	conn := fileConn{f}
	c.conn = conn
	c.rd.setSource(conn, raw)
	if c.parked.Load() {
		// A writer attaches a parked subscriber: the first time since it
		// parked, it is detached again as soon as the message is written
		// (an occasional message costs one rebuild); after that, on the
		// poller's tick, so that one that goes on receiving is not rebuilt
		// per message (queueDetach).
		writeAttaches.Add(1)
		if !c.writeAttached {
			c.writeAttached, c.detachOnFlush = true, true
		} else {
			c.b.poll.queueDetach(c)
		}
	}
}

// fileConn is a rebuilt connection: its socket as an *os.File. The broker
// never asks a conn for its addresses after accept.
type fileConn struct{ *os.File }

func (fileConn) LocalAddr() net.Addr  { return nil }
func (fileConn) RemoteAddr() net.Addr { return nil }

// CloseWrite half-closes the socket, as net.TCPConn's does: the drain after
// a DISCONNECT (writer.go drainAndClose) needs it.
func (c fileConn) CloseWrite() error {
	raw, err := c.File.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = shutdownWrite(fd) }); err != nil {
		return err
	}
	return serr
}

// writeAttaches counts the rebuilds made for a writer of a parked connection, for tests: the race
// between a delivery and parking must be seen to happen.
var writeAttaches atomic.Uint64
