package broker

import (
	"sync/atomic"
	"syscall"
)

// Answering a keep-alive on the poller: a fleet's parked devices send far
// more PINGREQs than anything else, and waking a connection for one cost
// a goroutine, the net.Conn rebuilt and torn down again, and about eight
// system calls: ~140 µs of broker CPU per ping against Mosquitto's ~28
// (docs/decisions/0047). The poller now reads the socket itself, and when
// what it read is exactly one or more whole PINGREQs it writes the
// PINGRESPs with a raw write [MQTT-3.12.4-1] and parks the connection
// again, its keep-alive refreshed: a read, a write and the re-arm
// (docs/decisions/0050).
//
// Anything else takes the wake path as before, with what was read handed
// over in the reader's buffer, where the woken reader parses it first: a
// PUBLISH, part of a packet, a PINGREQ behind anything else. Hang-up,
// error or EOF reported by epoll wakes the connection without a read, so
// the reader meets them itself. A PINGRESP the write side cannot take now
// (a flusher is writing, something is pending, the socket would block) is
// left to the reader too, which answers the PINGREQs in its buffer as any.

// maxPolledPings is the most PINGREQs one read may hold for the poller to
// answer them; a client that sends more at once is not idle.
const maxPolledPings = 8

// pingresps are the poller's answers, written from here: PINGRESP has the
// same two bytes in every protocol version (MQTT 3.1.1 §3.13, 5.0 §3.13).
var pingresps = func() (b [2 * maxPolledPings]byte) {
	for i := 0; i < len(b); i += 2 {
		b[i] = byte(pingrespByte)
	}
	return b
}()

// pingreqByte and pingrespByte are the first bytes of PINGREQ and
// PINGRESP; the second is a zero Remaining Length (MQTT 5.0 §3.12.1, §3.13.1).
const pingreqByte, pingrespByte = 0xC0, 0xD0

// pollerPings counts the PINGREQs the poller answered, for tests.
var pollerPings atomic.Uint64

// readable handles epoll's report that parked c's socket is readable (or
// hung up): only the first of several wake-ups (readable, keep-alive,
// kick) does anything, as with unpark.
func (p *poller) readable(c *client, events uint32) {
	if !c.parked.CompareAndSwap(true, false) {
		c.quiet() // a level-triggered entry of a connection a goroutine reads now (inline_linux.go)
		return
	}
	p.unschedule(c)
	// A connection parked for inline service is served here, PINGREQs
	// included (inline_linux.go); c.fd changes only under wmu.
	c.wmu.Lock()
	mode, fd := c.armed, int(c.fd)
	c.wmu.Unlock()
	if mode == armLevel {
		c.serveInline(fd)
		return
	}
	// Only a plain readable report: EPOLLRDHUP, EPOLLHUP or EPOLLERR means
	// the peer closed or reset, which the reader's own read reports.
	if events == syscall.EPOLLIN && c.answerPings(p) {
		return
	}
	c.wake()
}

// answerPings reads what made parked c readable, on the poller's goroutine,
// which owns c's reader until it parks or wakes it (readable took parked).
// It reports whether c is parked again, having answered only PINGREQs;
// otherwise the bytes read are in c's reader, for the goroutine c.wake
// starts.
//
// It reads into the poller's own small buffer, one byte longer than the
// most PINGREQs it answers: a ping touches no pooled read buffer (taken on
// whichever P the poller's goroutine runs, and that P's pool empty, it was
// a fresh 4 KiB now and then). Anything else is copied into the reader's
// buffer, which reads the rest itself.
func (c *client) answerPings(p *poller) bool {
	if !c.rd.empty() {
		return false // never so when parked; the reader knows what to do
	}
	// c.fd changes only under wmu, and no one detaches c while it is not
	// parked (redetachLocked); a writer that attaches it keeps the number.
	c.wmu.Lock()
	fd := int(c.fd)
	c.wmu.Unlock()
	if fd < 0 {
		return false
	}
	buf := p.pingBuf[:]
	n, _ := socketRead(fd, buf)
	if n <= 0 {
		// Nothing after all, or an error or EOF that came after epoll's
		// report: the reader reads again and meets it.
		return false
	}
	pings := onlyPings(buf[:n])
	if pings == 0 || !c.writePingresps(pings) {
		// Handed over: the reader parses what was read. lastRead stays at
		// the read before the wake, for the woken run's quiet condition;
		// the run stamps it when it starts (reparkWatch).
		c.rd.w += int32(copy(c.rd.target(false), buf[:n]))
		return false
	}
	c.rd.lastRead = monoNow() // the keep-alive counts from here [MQTT-3.1.2-22]
	c.b.stats.packetsIn.Add(uint64(pings))
	c.b.stats.bytesIn.Add(uint64(2 * pings))
	pollerPings.Add(uint64(pings))
	// park schedules the keep-alive from lastRead; it declines when a kick
	// or the keep-alive came meanwhile, and then c wakes to meet it.
	return c.park()
}

// onlyPings is how many whole PINGREQs b is made of, 0 if it holds anything
// else or part of one.
func onlyPings(b []byte) int {
	if len(b)%2 != 0 || len(b) > 2*maxPolledPings {
		return 0
	}
	for i := 0; i < len(b); i += 2 {
		if b[i] != pingreqByte || b[i+1] != 0 {
			return 0 // another packet, or a malformed PINGREQ (MQTT 5.0 §3.12.1)
		}
	}
	return len(b) / 2
}

// writePingresps writes pings PINGRESPs to c's socket, under wmu, unless a
// writer has the socket or bytes are pending: those go first, and a
// PINGRESP raw-written now would jump them or split a packet a flusher is
// writing. It reports false when nothing was written, for the reader to
// answer instead. What a short write did not take is queued as any
// answer is, behind nothing, with a flusher for it.
func (c *client) writePingresps(pings int) bool {
	c.wmu.Lock()
	if c.wclosed || c.flushing || len(c.out) > 0 || c.fd < 0 {
		c.wmu.Unlock()
		return false
	}
	resp := pingresps[:2*pings]
	wrote, _ := socketWrite(int(c.fd), resp)
	if wrote <= 0 {
		// Would block, or the write failed: the reader answers and its
		// write meets the failure through the usual path.
		c.wmu.Unlock()
		return false
	}
	c.b.stats.bytesOut.Add(uint64(wrote))
	if wrote < len(resp) {
		c.out = append(getWriteBuf(), resp[wrote:]...)
		c.endIn(nil) // attaches c and starts a flusher; unlocks
		return true
	}
	c.wmu.Unlock()
	return true
}
