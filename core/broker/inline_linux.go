package broker

import (
	"errors"
	"io"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// Serving inline: a connection in the latency-bound regime (a packet or
// two per read, then nothing to read) does not wait in the runtime's
// netpoll for its next packet. It parks (parkAs(true)) as an idle
// connection does, detached — it must be: the runtime's own epoll keeps
// watching a net.Conn's socket, and woke a thread for every packet, for
// nothing — but watched level-triggered. When its socket turns readable
// the idle poller's goroutine reads it, handles what came, writes the
// answers on the socket itself, and leaves it parked and watched: no
// goroutine woken, no epoll_ctl and no read that finds nothing, per
// message (docs/decisions/0044). Writers from other goroutines write on
// its socket too (writeOnce); only a flusher that must wait for room
// rebuilds its net.Conn. It costs what any parked connection costs.
//
// The rule: only what cannot block the poller, which every other parked
// connection waits on, is handled inline — PUBLISH, its acknowledgements
// and PINGREQ, on a plain TCP socket, in a broker with no hook on the
// publish path (authorize, on-publish, transform: a plugin may take up to
// its deadline) and no durable store (a backlogged journal is waited for).
// Anything else — another packet type, a hook, backpressure, a batch of
// more than maxInlinePackets, a packet that has not fully arrived, an
// error, a kick — goes to a goroutine of its own (handOff), which carries
// on as the reader always did. And only while another connection is
// latency-bound too (peersWaiting): a lone client keeps its goroutine,
// where its round trips are shorter (docs/decisions/0051).

// inlineOK reports whether the connection may be served on the poller.
func (c *client) inlineOK() bool {
	b := c.b
	return c.fd >= 0 && b.parkAfter > 0 && b.journal == nil &&
		!b.hooks.Provides(hooks.PointAuthorize) && !b.hooks.Provides(hooks.PointOnPublish) &&
		!b.hooks.Provides(hooks.PointTransform)
}

// peersWaiting records that c waits for its next packet after a small
// batch at now (monoNow), and reports whether another connection did
// within peerWindow. Serving inline wins only when the poller serves
// several connections per wait — eight clients: the broker's threads wait
// for a CPU a fifth as long, p99 at Mosquitto's level — and loses with one
// client, where it does per message what the reader's goroutine did and no
// longer keeps a thread spinning (round trips 0.72–0.85×;
// docs/decisions/0044, 0051). So a lone latency-bound client stays on its
// goroutine, and one served inline that finds itself alone goes back to
// one.
func (b *Broker) peersWaiting(c *client, now int64) bool {
	if b.inlineAlone.Load() {
		return true
	}
	return b.waits.record(uintptr(unsafe.Pointer(c)), now)
}

// inlineType reports whether packets of type t are handled on the poller.
func inlineType(t packets.Type) bool {
	switch t {
	case packets.TypePublish, packets.TypePuback, packets.TypePubrec, packets.TypePubrel,
		packets.TypePubcomp, packets.TypePingreq:
		return true
	}
	return false
}

// waitInline is the reader's wait for its next packet, with nothing
// buffered and its batch flushed: one non-blocking read, and if the socket
// is empty the connection parks for the poller to serve it inline. False:
// bytes came (or an end the next read meets), or it could not park.
func (c *client) waitInline() bool {
	if !c.b.peersWaiting(c, c.rd.lastRead) {
		return false
	}
	if n, err := c.rd.fillNow(int(c.fd)); n > 0 || err != syscall.EAGAIN {
		return false
	}
	fb := c.batch
	c.batch = nil
	if c.parkAs(true, false) {
		putBatch(fb)
		return true
	}
	c.batch = fb
	return false
}

// serveInline reads and handles what c's socket holds, on the poller's
// goroutine, which owns c as its reader until c parks again or is handed
// off.
func (c *client) serveInline(fd int) {
	inlineServes.Add(1)
	prevRead := c.rd.lastRead // its previous service's
	c.batch = getBatch()
	limit := c.lim.MaxPacketSize
	short := false // the last read left room: the socket is empty, or soon reported again
	for {
		if !c.rd.complete() {
			if short && c.rd.empty() {
				// No read that would find it empty: the socket is watched
				// level-triggered, so what comes later, or is still there,
				// is reported by the next wait (an end of stream too).
				break
			}
			room := c.rd.room()
			n, err := c.rd.fillNow(fd)
			if n > 0 {
				short = n < room
				continue
			}
			if err == syscall.EAGAIN && c.rd.empty() {
				break
			}
			// The end of the stream, an error, or a packet still arriving:
			// the goroutine's read meets it, with its deadlines.
			c.handOff(nil, nil)
			return
		}
		if c.stop.Load() != nil || c.keepExpired.Load() {
			c.handOff(nil, nil)
			return
		}
		h, body, err := c.rd.next(limit, c.b.partials) // whole in the buffer: no read
		if err != nil {
			c.handOff(nil, err)
			return
		}
		if !inlineType(h.Type) || !c.inlineOK() {
			c.handOff(&heldPacket{h: h, body: body}, nil)
			return
		}
		c.batch.n++
		if err := c.dispatchKept(h, body); err != nil {
			c.handOff(nil, err)
			return
		}
		if len(c.batch.over) > 0 || c.batch.n > maxInlinePackets {
			c.handOff(nil, nil) // backpressure, or a pipelining client
			return
		}
	}
	c.batch.flush()
	if c.rd.lastRead-prevRead >= busyWindow || !c.b.peersWaiting(c, c.rd.lastRead) {
		// Slow or alone: its own goroutine serves it better (busyWindow,
		// peersWaiting).
		c.handOff(nil, nil)
		return
	}
	fb := c.batch
	c.batch = nil
	if c.parkAs(true, true) {
		putBatch(fb)
		return
	}
	c.batch = fb // parkAs attached it again
	c.b.wg.Add(1)
	go c.runOn(nil, nil)
}

// handOff gives the connection, its batch and what the inline path read
// to a goroutine of its own.
func (c *client) handOff(pend *heldPacket, err error) {
	c.quiet()
	c.b.wg.Add(1)
	go func() {
		c.attach()
		c.runOn(pend, err)
	}()
}

// errBufferFull: a packet longer than the read buffer; the goroutine's
// reader takes it as a body in progress.
var errBufferFull = errors.New("read buffer full")

// complete reports whether a whole packet (or a malformed header, which
// next reports) is buffered, so that next returns it without reading.
func (rd *reader) complete() bool {
	if rd.pend != nil || rd.buf == nil || rd.r == rd.w {
		return false
	}
	h, n, err := packets.DecodeFixedHeader((*rd.buf)[rd.r:rd.w])
	if err != nil {
		return !errors.Is(err, packets.ErrShortBuffer)
	}
	return h.Remaining <= int(rd.w-rd.r)-n
}

// fillNow reads what the socket holds into the buffer without waiting:
// EAGAIN when there is nothing. The caller owns the reader, and with it the
// socket: nothing closes fd meanwhile.
func (rd *reader) fillNow(fd int) (int, error) {
	if rd.buf != nil && rd.r > 0 {
		rd.w = int32(copy(*rd.buf, (*rd.buf)[rd.r:rd.w]))
		rd.r = 0
	}
	if rd.buf != nil && int(rd.w) == len(*rd.buf) {
		return 0, errBufferFull
	}
	n, err := socketRead(fd, rd.target(false))
	if n > 0 {
		rd.w += int32(n)
		rd.lastRead = monoNow()
		return n, nil
	}
	rd.releaseIfEmpty()
	if err == nil {
		err = io.EOF
	}
	return 0, err
}

// writeDetached is flushInline's write to a connection served inline,
// which has no net.Conn: one non-blocking call on its socket, under the
// flushing token, which keeps the number from being closed meanwhile. What
// it does not take (a full socket, an error) a flusher writes or meets.
func writeDetached(fd int, b []byte) int {
	n, err := socketWrite(fd, b)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// quiet takes the socket of a connection that is not parked out of the
// poller's set, if it is there level-triggered: a goroutine reads it now,
// and a level-triggered entry would report it to the poller until it
// parks again (which re-arms it). Under wmu, where park marks it parked
// and arms it, so that an entry armed for a new park is never taken out.
func (c *client) quiet() {
	c.wmu.Lock()
	if c.armed == armLevel && !c.parked.Load() {
		c.b.poll.disarm(int(c.fd))
		c.armed = armNone
	}
	c.wmu.Unlock()
}

// room is how many bytes the next fill can take.
func (rd *reader) room() int {
	if rd.buf == nil {
		return readBufSize
	}
	return len(*rd.buf) - int(rd.w-rd.r)
}

// inlineServes counts the poller's inline services, for tests: a
// latency-bound client must be seen to be served there.
var inlineServes atomic.Uint64
