package broker

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// Writes are coalesced per connection: whoever has something to send (the
// connection's own reader, or a publisher's goroutine delivering to it)
// appends encoded packets to the connection's pending buffer under wmu, and a
// flusher goroutine, started only while there is something to write, writes
// everything pending in one system call. An idle connection has no writer
// goroutine and no buffer.

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// bufHeaders recycles the *[]byte that carries a buffer through writeBufs:
// without it, every putWriteBuf would allocate one, and a connection with one
// message in flight gets and puts a buffer per message.
var bufHeaders = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledWriteBuf keeps unusually large buffers out of the pool.
const maxPooledWriteBuf = 256 << 10

func getWriteBuf() []byte {
	h := writeBufs.Get().(*[]byte)
	b := (*h)[:0]
	*h = nil
	bufHeaders.Put(h)
	return b
}

func putWriteBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledWriteBuf {
		return
	}
	h := bufHeaders.Get().(*[]byte)
	*h = b[:0]
	writeBufs.Put(h)
}

// begin locks the write side and returns whether the connection still takes
// bytes; the caller appends to c.out and calls end.
func (c *client) begin() bool {
	c.wmu.Lock()
	if c.wclosed {
		return false
	}
	if c.out == nil {
		c.out = getWriteBuf()
	}
	return true
}

// end unlocks the write side and makes sure a flusher will write what is pending.
func (c *client) end() { c.endIn(nil) }

// endIn is end for a write made during batch (nil: none): instead of starting
// a flusher now, the connection joins the batch, whose owner starts it when
// the batch ends. Meanwhile flushing is already set, so other writers leave it
// to the batch too; what they append goes out in the same write.
func (c *client) endIn(batch session.Batch) {
	if !c.flushing && !c.wclosed && c.writable() > 0 {
		if c.armed != armLevel {
			// A parked connection may have let its net.Conn go
			// (park_detach.go); one served inline is written without it
			// (flushInline), and a flusher attaches it.
			c.attachLocked()
		}
		c.flushing = true
		if batch != nil {
			batch.Defer(c)
		} else {
			c.startFlusher()
		}
	}
	failed := c.takeFailure()
	c.wmu.Unlock()
	if failed != nil {
		// Answers held for a commit that failed were dropped (durable.go):
		// the client must resend what it never saw acknowledged.
		c.stopWith(&stopRequest{reason: packets.UnspecifiedError, will: true, err: failed})
	}
}

func (c *client) startFlusher() {
	c.b.wg.Add(1)
	go c.flush()
}

// A flushBatch is a reader's list of connections it wrote to and owes a
// flusher: a publisher delivering a burst of messages to a subscriber then
// costs that subscriber one write instead of one per message. Only the
// reader's goroutine touches it.
type flushBatch struct {
	owed []*client
	n    int // packets read since the last flush
	// over are the sessions this reader's publishes took past their soft
	// limits (backpressure.go); it waits for them before reading on.
	over []*entry
}

// batchPool keeps the batches of readers that parked or ended: a batch
// lives only while its reader runs, so that a parked connection does not
// carry one (56 bytes of the client struct, docs/decisions/0042).
var batchPool = sync.Pool{New: func() any { return new(flushBatch) }}

// getBatch is an empty batch for a reader starting to run.
func getBatch() *flushBatch { return batchPool.Get().(*flushBatch) }

// putBatch gives back a flushed batch (owed and over empty).
func putBatch(fb *flushBatch) {
	fb.n = 0
	batchPool.Put(fb)
}

// Defer implements session.Batch.
func (fb *flushBatch) Defer(s session.Sink) { fb.owed = append(fb.owed, s.(*client)) }

// maxBatchPackets bounds how many packets a reader handles before it flushes
// what it owes, so subscribers of a publisher that never lets its socket
// drain still get their messages promptly.
const maxBatchPackets = 64

// maxInlinePackets is the most packets a batch may have read for its
// reader to write what it owes itself (flushInline). A batch that small is
// the latency-bound regime — one message in flight, the reader about to wait
// — where a flusher goroutine per write costs more than the write. A bigger
// batch is a pipelining client: its reader goes back to reading while
// flushers write on the other cores (docs/decisions/0036-low-rate-path.md).
const maxInlinePackets = 2

// flush writes, or starts flushers for, what the batch owes. Either way the
// batch holds each connection's flushing token, so no other goroutine
// writes to it meanwhile.
func (fb *flushBatch) flush() {
	inline := fb.n <= maxInlinePackets
	for i, c := range fb.owed {
		if inline {
			c.flushInline()
		} else {
			c.startFlusher()
		}
		fb.owed[i] = nil
	}
	fb.owed = fb.owed[:0]
	fb.n = 0
}

// flushInline writes what c has pending in one non-blocking system call on
// the caller's goroutine, and leaves what the socket did not take to a
// flusher goroutine. The caller holds c's flushing token (its batch deferred
// c). In the latency-bound regime — one message in flight — a write is the
// whole backlog, and starting a goroutine for it cost more than the write
// (docs/decisions/0036-low-rate-path.md).
//
// The write is made without wmu, as the flusher's are: other publishers go
// on appending to the subscriber meanwhile, and what they appended goes out
// in one write by a flusher afterwards, as it did before inline writes. The
// socket is non-blocking and the write never waits for the peer, so a
// subscriber that does not read costs the caller one system call that takes
// nothing, never a stall.
func (c *client) flushInline() {
	if !c.writeOnce(false) {
		c.startFlusher()
	}
}

// writeOnce is flushInline's one write, also the flusher's first for a
// connection without its net.Conn (detachedOnly; inline_linux.go). True:
// all is written and the flushing token given up; false: a flusher must
// write the rest, or write at all (TLS, WebSocket, a barrier), and the
// caller still holds the token.
func (c *client) writeOnce(detachedOnly bool) bool {
	c.wmu.Lock()
	raw, fd := c.rd.raw(), int(c.fd)
	if (raw == nil && (c.conn != nil || fd < 0)) || (detachedOnly && c.conn != nil) {
		c.wmu.Unlock()
		return false // TLS and WebSocket may block in Write
	}
	n := c.writable()
	if n == 0 || c.wclosed {
		c.flushDoneLocked()
		return true
	}
	if n < len(c.out) {
		// Part is held behind a barrier (durable.go): the flusher knows how
		// to write around it.
		c.wmu.Unlock()
		return false
	}
	buf := c.out
	c.out = nil
	c.written(n)
	c.wmu.Unlock()

	var wrote int
	if raw != nil {
		wrote = writeNonBlocking(raw, buf)
	} else {
		wrote = writeDetached(fd, buf) // no net.Conn (inline_linux.go)
	}
	c.b.stats.bytesOut.Add(uint64(wrote))

	c.wmu.Lock()
	if wrote < len(buf) {
		// What the socket did not take goes back in front of what was
		// appended meanwhile.
		rest := buf[:copy(buf, buf[wrote:])]
		c.unwritten(len(rest))
		if len(c.out) > 0 {
			rest = append(rest, c.out...)
		}
		putWriteBuf(c.out)
		c.out = rest
	} else {
		putWriteBuf(buf)
	}
	if c.writable() > 0 && !c.wclosed {
		// The socket is full or failed, or others appended while we wrote:
		// a flusher waits for room, meets the error and ends the
		// connection, or writes the rest in one go.
		c.wmu.Unlock()
		return false
	}
	c.flushDoneLocked()
	return true
}

// flushDoneLocked gives up the flushing token with nothing left to write
// (but perhaps answers held behind a barrier) and unlocks wmu.
func (c *client) flushDoneLocked() {
	c.flushing = false
	c.flushedLocked() // a parked connection lets its net.Conn go (park_detach.go)
	if len(c.out) == 0 {
		putWriteBuf(c.out)
		c.out = nil
	} // else held behind a barrier (durable.go)
	c.wcond.Broadcast()
	c.wmu.Unlock()
}

// send encodes p for the connection's protocol version and queues it.
func (c *client) send(p packets.Packet) {
	if c.begin() {
		c.out = p.Append(c.out, c.version)
	}
	c.end()
}

// sendAck queues a PUBACK, PUBREC, PUBREL or PUBCOMP without allocating.
func (c *client) sendAck(kind packets.Type, id uint16, reason packets.ReasonCode, reasonString string) {
	c.sendAckAfter(kind, id, reason, reasonString, journal.Ticket{}, false, nil, nil)
}

// sendAckHeld is sendAck for an answer that waits for the changes its packet
// made to be durable (durable.go). Reader goroutine only.
func (c *client) sendAckHeld(kind packets.Type, id uint16, reason packets.ReasonCode, reasonString string) {
	c.sendAckGated(kind, id, reason, reasonString, nil)
}

// sendAckGated is sendAckHeld for a PUBACK that may also go when g opens.
//
// The answer joins the reader's batch: it goes out in the write the reader
// makes before it next waits on the socket, with whatever the packet
// delivered to this same connection, instead of on a flusher goroutine of
// its own.
func (c *client) sendAckGated(kind packets.Type, id uint16, reason packets.ReasonCode, reasonString string, g *ackGate) {
	t, changed := c.sinceMark()
	c.sendAckAfter(kind, id, reason, reasonString, t, changed, g, c.batch)
}

// sendAckAfter queues an acknowledgement, behind a barrier for t (or g) if
// hold; a non-nil batch is the reader's own (client.endIn).
func (c *client) sendAckAfter(kind packets.Type, id uint16, reason packets.ReasonCode, reasonString string, t journal.Ticket, hold bool, g *ackGate, batch session.Batch) {
	a := packets.Ack{Kind: kind, PacketID: id, Reason: reason}
	if reasonString != "" && c.problemInfo {
		a.Properties = c.withReasonString(a, reasonString)
	}
	if c.begin() {
		start := len(c.out)
		c.out = a.Append(c.out, c.version)
		if hold {
			c.holdLocked(start, t, g)
		}
	}
	c.endIn(batch)
}

// withReasonString is the properties of a carrying reasonString, or none when the
// client's Maximum Packet Size leaves no room for it [MQTT-3.4.2-2] (and its
// kin for PUBREC, PUBREL, PUBCOMP). Apart from sendAckAfter so that only an
// acknowledgement with a reason string is allocated: fitReason's trial
// encoding takes it as an interface.
func (c *client) withReasonString(a packets.Ack, reasonString string) packets.Properties {
	a.Properties.ReasonString = reasonString
	a.Properties.Set(packets.PropReasonString)
	c.fitReason(&a, &a.Properties)
	return a.Properties
}

// flush writes pending bytes until there are none, then exits. It swaps the
// pending buffer with one of its own each round, so a busy connection keeps two
// buffers of the capacity it needs instead of growing fresh ones; an idle
// connection gives both back to the pool.
func (c *client) flush() {
	defer c.b.wg.Done()
	var spare []byte
	var deadlineSet time.Time
	// Let whoever woke us append what else it has before the first write: a
	// publisher in the middle of a batch fills one write instead of many.
	runtime.Gosched()
	if c.writeOnce(true) {
		return // a connection served inline, written without its net.Conn
	}
	for {
		c.wmu.Lock()
		c.attachLocked() // one served inline is written to without its net.Conn (inline_linux.go)
		buf := c.out
		n := c.writable()
		if n == 0 || c.wclosed {
			c.flushing = false
			c.flushedLocked() // a parked connection lets its net.Conn go (park_detach.go)
			if len(buf) == 0 {
				// An empty c.out is spare's array when there is a spare: give
				// the array back once, never twice.
				c.out = nil
				if spare == nil {
					putWriteBuf(buf)
				}
				putWriteBuf(spare)
			} // else held behind a barrier (durable.go), perhaps in spare's array
			c.wcond.Broadcast()
			c.wmu.Unlock()
			return
		}
		if n < len(buf) {
			// The rest waits behind a barrier: it stays pending.
			c.out = append(spare[:0], buf[n:]...)
			buf = buf[:n]
		} else {
			c.out = spare[:0]
		}
		c.written(n)
		c.wmu.Unlock()

		// A deadline change costs a timer update: refresh it only as it nears.
		if now, wt := time.Now(), c.b.limits().WriteTimeout; !c.draining.Load() && now.Sub(deadlineSet) > wt/4 {
			_ = c.conn.SetWriteDeadline(now.Add(wt))
			deadlineSet = now
		}
		n, err := c.conn.Write(buf)
		c.b.stats.bytesOut.Add(uint64(n))
		if err != nil {
			c.wmu.Lock()
			c.wclosed, c.writeFailed = true, true
			c.flushing = false
			c.wcond.Broadcast()
			c.wmu.Unlock()
			putWriteBuf(buf) // spare may share buf's array: let it go
			// The reader ends the connection, parked or not: the will, the
			// session and the log line all happen in finish.
			c.stopWith(&stopRequest{reason: packets.UnspecifiedError, will: true, err: fmt.Errorf("write failed: %w", err)})
			return
		}
		spare = buf
	}
}

// closeWrites waits (at most grace) for the flusher, writes whatever is still
// pending, and stops the write side for good. Used by the reader on its way out,
// so a final DISCONNECT or CONNACK reaches the client before the close.
//
// With settle, answers held for a commit (durable.go) wait for it within grace.
func (c *client) closeWrites(grace time.Duration, settle bool) {
	c.draining.Store(true)
	_ = c.conn.SetWriteDeadline(time.Now().Add(grace))
	c.wmu.Lock()
	c.awaitFlusherLocked()
	if settle {
		c.settleBeforeClose(grace)
	}
	c.awaitFlusherLocked()      // settling may have started one
	buf := c.out[:c.writable()] // what is still held is never sent
	c.out = nil
	if c.durable() != nil {
		clear(c.durable().held)
		c.durable().held = nil // nothing is held any more: the rest is dropped
	}
	already := c.wclosed
	c.wclosed = true
	c.wmu.Unlock()
	if !already && len(buf) > 0 {
		n, err := c.conn.Write(buf)
		c.b.stats.bytesOut.Add(uint64(n))
		if err != nil {
			c.wmu.Lock()
			c.writeFailed = true
			c.wmu.Unlock()
		}
	}
	putWriteBuf(buf)
}

// Draining after goodbye: a client still writing when we close on it would
// get a reset, and a reset makes its TCP stack throw away what it had not yet
// read — our DISCONNECT or CONNACK with the reason. So, as well-behaved servers
// do, we half-close (the client reads our last packet, then EOF) and read and
// discard what it still sends before closing: until it closes too, goes quiet
// for drainQuiet (nothing left to reset on), or has sent maxDrainBytes or
// Limits.DrainAfterDisconnect has passed.

const (
	maxDrainBytes = 16 << 20
	drainQuiet    = 200 * time.Millisecond
)

// drainAndClose closes the connection, draining first when the broker said
// goodbye with a reason code and the write side is healthy.
func (c *client) drainAndClose() {
	defer c.rd.release()
	c.wmu.Lock()
	failed := c.writeFailed
	c.wmu.Unlock()
	grace := c.b.limits().DrainAfterDisconnect
	hc, ok := c.conn.(interface{ CloseWrite() error })
	if !c.saidGoodbye || failed || grace <= 0 || !ok || hc.CloseWrite() != nil {
		_ = c.conn.Close()
		return
	}
	end := time.Now().Add(grace)
	buf := readBufs.Get().(*[]byte)
	for n := 0; n < maxDrainBytes; {
		_ = c.conn.SetReadDeadline(minTime(end, time.Now().Add(drainQuiet)))
		m, err := c.conn.Read(*buf)
		n += m
		if err != nil {
			break // closed, quiet, or out of time
		}
	}
	readBufs.Put(buf)
	_ = c.conn.Close()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// backedUp reports whether more than the limit is waiting to be written; the
// caller holds wmu.
func (c *client) backedUp() bool { return len(c.out) > c.b.limits().MaxWriteBuffer }

// fitReason leaves the Reason String out of p (whose properties are props)
// when it would make p larger than the client's Maximum Packet Size: the
// property is optional, the packet is not [MQTT-3.1.2-25]. Only packets that
// carry a reason string pay for the trial encoding.
func (c *client) fitReason(p packets.Packet, props *packets.Properties) {
	if c.maxOut == 0 || !props.Has(packets.PropReasonString) {
		return
	}
	if uint32(len(p.Append(nil, c.version))) > c.maxOut {
		props.Clear(packets.PropReasonString)
		props.ReasonString = ""
	}
}

// An inlineWrite is one non-blocking write through syscall.RawConn. Its
// callback is bound once, when the pool makes it: a closure per write would
// be an allocation per message.
type inlineWrite struct {
	buf   []byte
	n     int
	ready func(fd uintptr) bool
}

var inlineWrites = sync.Pool{New: func() any {
	w := new(inlineWrite)
	w.ready = w.write
	return w
}}

// write makes one attempt and always reports done: returning false would
// make RawConn.Write wait for the socket to drain, which is the flusher's
// job, not the caller's.
func (w *inlineWrite) write(fd uintptr) bool {
	n, err := socketWrite(int(fd), w.buf)
	if err == nil {
		w.n = n
	}
	return true
}

// writeNonBlocking writes what of b the socket takes now and returns how
// much; 0 when it takes nothing or fails (the flusher then meets the error).
// A variable so that a test can append to the connection in the middle of
// a write (inlinewrite_internal_test.go).
var writeNonBlocking = writeOnce

func writeOnce(raw syscall.RawConn, b []byte) int {
	w := inlineWrites.Get().(*inlineWrite)
	w.buf, w.n = b, 0
	err := raw.Write(w.ready)
	n := w.n
	w.buf = nil
	inlineWrites.Put(w)
	if err != nil {
		return 0
	}
	return n
}
