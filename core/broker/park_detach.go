package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Detaching: a parked plain-TCP connection keeps only its socket number.
// Go's net.Conn costs ~0.95 KiB of RSS by itself (its netFD, two addresses
// and the runtime's pollDesc; docs/decisions/0037), more than the rest of an
// idle connection's budget. So park duplicates the socket, closes the
// net.Conn (the runtime lets go of its poll descriptor; the socket lives on
// in the duplicate, so the peer sees nothing) and waits on the duplicate.
// Whatever must then read or write the connection attaches it first: the
// reader when it wakes (client.run), a writer when it takes the flushing
// token (client.endIn). Both do so under wmu, the lock every writer takes;
// c.conn, c.rd.conn, c.rd.raw, c.fd and c.armed change only under it, and
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
	if c.armed {
		// The number about to close must leave the poller's set first: epoll
		// keeps a closed number's entry while another descriptor (dup) holds
		// the socket open, and would report its events for ever.
		p.disarm(int(c.fd))
		c.armed = false
	}
	_ = c.conn.Close() // the duplicate keeps the socket: no FIN
	c.conn, c.rd.conn, c.rd.raw = nil, nil, nil
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
	if err := c.detachLocked(p); err != nil {
		c.logDebug().Err(err).Msg("detaching a parked connection failed")
		return
	}
	// detachLocked took the old number out of the set: watch the new one.
	// Should c have woken meanwhile (unpark does not take wmu), its
	// goroutine attaches it and forgets this number.
	if err := p.arm(c, c.fd, true); err != nil {
		c.logDebug().Err(err).Msg("re-arming a detached connection failed; its keep-alive still wakes it")
		return
	}
	c.armed = true
}

// attach gives a detached connection its net.Conn back, for the reader.
func (c *client) attach() {
	c.wmu.Lock()
	c.attachLocked()
	c.wmu.Unlock()
}

// attachLocked rebuilds the net.Conn of a detached connection; wmu held.
// When the connection is still parked (a writer attaches it), the poller
// watches the new socket number instead of the old. A failure (no
// descriptor left for the rebuild) leaves a conn whose every operation
// fails: the connection then ends through its usual path, and the error is
// returned for the writer that met it.
func (c *client) attachLocked() error {
	if c.conn != nil {
		return nil
	}
	old := int(c.fd)
	f := os.NewFile(uintptr(old), "")
	conn, err := net.FileConn(f) // a new descriptor for the same socket
	var fd int32 = -1
	var raw syscall.RawConn
	if err == nil {
		raw, err = conn.(syscall.Conn).SyscallConn()
		if err == nil {
			err = raw.Control(func(s uintptr) { fd = int32(s) })
		}
		if err != nil {
			_ = conn.Close()
		}
	}
	p := c.b.poll // set: only a parked connection is ever detached
	rearmed := false
	if err == nil && c.parked.Load() {
		// Still parked: watch the new number before forgetting the old, so
		// that no readiness falls between. A wake-up that races this one is
		// settled by the CAS on parked; an event from either number wakes c.
		if aerr := p.arm(c, fd, true); aerr != nil {
			c.b.log.Debug().Err(aerr).Msg("re-arming an attached parked connection failed; its keep-alive still wakes it")
		} else {
			rearmed = true
		}
	}
	if c.armed {
		p.disarm(old) // before the close below: see detachLocked
	}
	c.armed = rearmed
	if rearmed {
		// A parked subscriber that got a message: the first time since it
		// parked, detached again as soon as the message is written (an
		// occasional message costs one rebuild); after that, on the
		// poller's tick, so that one that goes on receiving is not rebuilt
		// per message (queueDetach).
		if !c.writeAttached {
			c.writeAttached, c.detachOnFlush = true, true
		} else {
			p.queueDetach(c)
		}
	}
	_ = f.Close() // the old number; the socket lives on in conn, or dies with it
	if err != nil {
		err = fmt.Errorf("rebuild the connection of a parked socket: %w", err)
		c.conn, c.rd.conn, c.rd.raw, c.fd = deadConn{err}, deadConn{err}, nil, -1
		return err
	}
	c.conn, c.rd.conn, c.rd.raw, c.fd = conn, conn, raw, fd
	return nil
}

// attachForWrite attaches a detached connection for a writer about to take
// the flushing token (endIn); wmu held. A failed rebuild closes the write
// side for good, as a failed write does.
func (c *client) attachForWrite() error {
	if c.conn != nil {
		return nil
	}
	err := c.attachLocked()
	if err != nil {
		c.wclosed, c.writeFailed = true, true
	}
	writeAttaches.Add(1)
	return err
}

// writeAttaches counts the rebuilds made for a writer, for tests: the race
// between a delivery and parking must be seen to happen.
var writeAttaches atomic.Uint64

// deadConn stands in for a connection whose rebuild failed: it is closed,
// and every operation says why.
type deadConn struct{ err error }

var errDeadConn = errors.New("connection lost while parked")

func (d deadConn) Read([]byte) (int, error)         { return 0, d.error() }
func (d deadConn) Write([]byte) (int, error)        { return 0, d.error() }
func (d deadConn) Close() error                     { return nil }
func (d deadConn) LocalAddr() net.Addr              { return nil }
func (d deadConn) RemoteAddr() net.Addr             { return nil }
func (d deadConn) SetDeadline(time.Time) error      { return nil }
func (d deadConn) SetReadDeadline(time.Time) error  { return nil }
func (d deadConn) SetWriteDeadline(time.Time) error { return nil }

func (d deadConn) error() error { return fmt.Errorf("%w: %w", errDeadConn, d.err) }
