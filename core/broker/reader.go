package broker

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/packets"
)

// readBufSize is the size of the pooled buffer a connection reads into while
// it has bytes to parse. Idle connections hold no buffer (see reader.fill).
const readBufSize = 4096

// firstBodyChunk is the most a packet whose body is still arriving gets before
// its bytes do: the body grows, by doubling, only as fast as bytes arrive, so
// a client that announces a megabyte and sends a byte holds kilobytes
// (docs/decisions/0010-read-path.md).
const firstBodyChunk = 16 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// reader frames MQTT packets off a connection.
//
// Memory per idle connection is an architectural choice (docs/decisions):
// a reader borrows its buffer from a pool only while bytes are waiting to be
// parsed. On a TCP connection it waits for readability through
// syscall.RawConn, so a blocked reader holds no buffer at all; on other
// connections (TLS, WebSocket) it must hold one while it blocks in Read.
//
// A packet whose body has not fully arrived is kept in the reader between
// calls: a read that fails with a deadline loses nothing, and the next call
// carries on where it stopped. Deadlines therefore never cut a packet in two;
// the caller decides from lastRead whether the client is still making
// progress (client.serve).
type reader struct {
	// src is what the reader reads from: the socket's syscall.RawConn when
	// the connection has a non-blocking descriptor, else the net.Conn itself
	// (TLS, WebSocket); nil while parked detached. One field, not a conn and
	// a RawConn: every idle connection carries it (docs/decisions/0042).
	src any
	buf *[]byte
	// r and w index the pooled buffer (readBufSize): four bytes each, as
	// every idle connection carries them (docs/decisions/0048).
	r, w int32
	// lastRead is when bytes last came off the socket (monoNow), for
	// keep-alive, parking and the stall limit of a packet in progress. Not
	// a time.Time: 16 bytes less on every connection (0048); readAt gives one.
	lastRead int64

	// pend is a packet whose body is still arriving; nil between packets.
	// The broker-wide budget such bodies are charged to is its, not the
	// reader's: 8 bytes that every idle connection carried (0049).
	pend *pendingBody
}

// firstBufs hold the first bytes after an empty buffer on a connection
// without a descriptor (TLS, WebSocket): it blocks in Read holding 8 bytes
// rather than a pooled 4 KiB buffer, 23% of an idle TLS connection's memory
// (bench/results/transports.txt). The layer below keeps the rest of what
// arrived for the next Read. Pooled rather than in the reader, where every
// plain TCP connection, which never uses it, carried it (0048).
var firstBufs = sync.Pool{New: func() any { return new([8]byte) }}

// monoEpoch anchors monoNow; it carries the monotonic clock reading, so
// times built from it (readAt) compare monotonically.
var monoEpoch = time.Now()

// monoNow is the monotonic time since monoEpoch, in nanoseconds: the clock
// as eight bytes where a connection keeps it.
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// readAt is lastRead as a time (with its monotonic reading).
func (rd *reader) readAt() time.Time { return monoEpoch.Add(time.Duration(rd.lastRead)) }

// pendingBody is a packet whose body is still arriving: its header, and the
// body so far (len = received, cap = allocated and charged to the budget).
// Only a connection in that state pays for it.
type pendingBody struct {
	head   packets.FixedHeader
	body   []byte
	budget *budget.Bytes // what body is charged to (next's partials)
}

func newReader(conn net.Conn) reader {
	var rd reader
	var raw syscall.RawConn
	if sc, ok := conn.(syscall.Conn); ok {
		// A socket that might block is read and written through the
		// connection's own methods, as TLS is (rawio_linux.go).
		if r, err := sc.SyscallConn(); err == nil && nonBlocking(r) {
			raw = r
		}
	}
	rd.setSource(conn, raw)
	return rd
}

// setSource makes the reader read raw, or conn when raw is nil.
func (rd *reader) setSource(conn net.Conn, raw syscall.RawConn) {
	if raw != nil {
		rd.src = raw
		return
	}
	rd.src = conn // a nil conn (detached) leaves src nil
}

// raw is the socket's RawConn, nil when the connection is read through its
// own methods (or is detached).
func (rd *reader) raw() syscall.RawConn {
	r, _ := rd.src.(syscall.RawConn)
	return r
}

// errPacketTooLarge answers a fixed header announcing more than the limit [MQTT-3.2.2-15].
var errPacketTooLarge = &packets.Error{Reason: packets.PacketTooLarge, Msg: "packet exceeds the maximum packet size"}

// errReadBudget ends a connection whose packet in progress would take the
// broker over its budget for partially read packets.
var errReadBudget = &packets.Error{Reason: packets.QuotaExceeded, Msg: "the server holds too many partially received packets"}

// next returns the next packet's fixed header and body. The body of PUBLISH,
// CONNECT, SUBSCRIBE, UNSUBSCRIBE and AUTH is a fresh slice that decoded
// packets may alias for as long as they like; other bodies may point into the
// read buffer and are valid only until the next call.
//
// An error other than a deadline ends the connection; after a deadline the
// caller may call next again and lose nothing. A body that does not arrive
// whole is charged to partials (broker-wide; nil = unbounded) until it has.
func (rd *reader) next(limit uint32, partials *budget.Bytes) (packets.FixedHeader, []byte, error) {
	if rd.pend != nil {
		return rd.continueBody()
	}
	// The previous body may have pointed into the buffer; only now, when the
	// caller is done with it, may the buffer go back to the pool.
	rd.releaseIfEmpty()
	for {
		if rd.buf != nil && rd.w > rd.r {
			h, n, err := packets.DecodeFixedHeader((*rd.buf)[rd.r:rd.w])
			if err == nil {
				if limit != 0 && uint64(n)+uint64(h.Remaining) > uint64(limit) {
					return h, nil, errPacketTooLarge
				}
				rd.r += int32(n)
				return rd.body(h, partials)
			}
			if !errors.Is(err, packets.ErrShortBuffer) {
				return h, nil, err
			}
		}
		if err := rd.fill(); err != nil {
			return packets.FixedHeader{}, nil, err
		}
	}
}

func (rd *reader) body(h packets.FixedHeader, partials *budget.Bytes) (packets.FixedHeader, []byte, error) {
	avail := int(rd.w - rd.r)
	if h.Remaining <= avail {
		if !keepsBody(h.Type) {
			b := (*rd.buf)[rd.r : int(rd.r)+h.Remaining]
			rd.r += int32(h.Remaining)
			// Not released here: b aliases the buffer until the next call.
			return h, b, nil
		}
		body := make([]byte, h.Remaining)
		rd.r += int32(copy(body, (*rd.buf)[rd.r:rd.w]))
		rd.releaseIfEmpty()
		return h, body, nil
	}
	// The body is still arriving: allocate for what is here and a little
	// more, never for what was merely announced.
	size := min(h.Remaining, max(avail, firstBodyChunk))
	if !partials.Take(int64(size)) {
		return h, nil, errReadBudget
	}
	rd.pend = &pendingBody{head: h, body: make([]byte, avail, size), budget: partials}
	rd.r += int32(copy(rd.pend.body, (*rd.buf)[rd.r:rd.w]))
	rd.releaseIfEmpty()
	return rd.continueBody()
}

// continueBody reads the packet in progress until it is whole or a read fails.
func (rd *reader) continueBody() (packets.FixedHeader, []byte, error) {
	p := rd.pend
	h := p.head
	for len(p.body) < h.Remaining {
		if len(p.body) == cap(p.body) {
			size := min(h.Remaining, 2*cap(p.body))
			if !p.budget.Take(int64(size - cap(p.body))) {
				return h, nil, errReadBudget
			}
			grown := make([]byte, len(p.body), size)
			copy(grown, p.body)
			p.body = grown
		}
		n, err := rd.read(true)
		p.body = p.body[:len(p.body)+n]
		if err != nil && len(p.body) < h.Remaining {
			return h, nil, err
		}
	}
	p.budget.Give(int64(cap(p.body)))
	rd.pend = nil
	return h, p.body, nil
}

// keepsBody reports whether decoded packets of type t outlive the read: their
// strings and payloads are kept by sessions, the router or the retained store.
func keepsBody(t packets.Type) bool {
	switch t {
	case packets.TypePublish, packets.TypeConnect, packets.TypeSubscribe, packets.TypeUnsubscribe, packets.TypeAuth:
		return true
	}
	return false
}

func (rd *reader) releaseIfEmpty() {
	if rd.r == rd.w && rd.buf != nil {
		readBufs.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
}

// fill reads more bytes into the buffer, borrowing one if needed.
func (rd *reader) fill() error {
	if rd.buf != nil && rd.r > 0 {
		rd.w = int32(copy(*rd.buf, (*rd.buf)[rd.r:rd.w]))
		rd.r = 0
	}
	n, err := rd.read(false)
	rd.w += int32(n)
	if n > 0 {
		return nil
	}
	rd.releaseIfEmpty()
	return err
}

// read makes one read: into the free part of the body in progress (body),
// or into the pooled buffer after rd.w, which on a socket is borrowed only
// once bytes are ready: a reader waiting for readability holds none. It
// reports io.EOF for an orderly close and never returns 0 bytes without an
// error.
func (rd *reader) read(body bool) (int, error) {
	var n int
	var err error
	raw, ok := rd.src.(syscall.RawConn)
	if !ok {
		conn := rd.src.(net.Conn)
		if !body && rd.buf == nil {
			first := firstBufs.Get().(*[8]byte)
			n, err = conn.Read(first[:])
			if n > 0 {
				copy(rd.target(false), first[:n])
			}
			firstBufs.Put(first)
		} else {
			n, err = conn.Read(rd.target(body))
		}
		if n == 0 && err == nil {
			err = io.ErrNoProgress
		}
	} else {
		rc := readCalls.Get().(*readCall)
		rc.rd, rc.body, rc.n, rc.errno = rd, body, 0, 0
		err = raw.Read(rc.ready)
		n = rc.n
		errno := rc.errno
		rc.rd = nil
		readCalls.Put(rc)
		if err == nil && errno != 0 {
			err = errno
		}
		if n == 0 && err == nil {
			err = io.EOF
		}
	}
	if n > 0 {
		rd.lastRead = monoNow()
	}
	return n, err
}

// target is where a read goes: the body in progress or the pooled buffer.
func (rd *reader) target(body bool) []byte {
	if body {
		b := rd.pend.body
		return b[len(b):cap(b)]
	}
	if rd.buf == nil {
		rd.buf = readBufs.Get().(*[]byte)
	}
	return (*rd.buf)[rd.w:]
}

// A readCall is read's syscall.RawConn callback, bound once when the pool
// makes it: a method value per read was an allocation per packet (decision
// 0036), and a callback kept per reader would cost every idle connection a
// pointer. One read's results are kept here too, not in the reader, where
// every idle connection would carry them (docs/decisions/0042).
type readCall struct {
	rd    *reader
	body  bool
	n     int
	errno syscall.Errno
	ready func(fd uintptr) bool
}

var readCalls = sync.Pool{New: func() any {
	rc := new(readCall)
	rc.ready = rc.readyRead
	return rc
}}

func (rc *readCall) readyRead(fd uintptr) bool { return rc.rd.readyRead(fd, rc) }

// socketRead and socketWrite are the reader's and the inline write's system
// calls (rawio_linux.go); variables so that a test can count them per message.
var socketRead, socketWrite = rawRead, rawWrite

func (rd *reader) readyRead(fd uintptr, rc *readCall) bool {
	body := rc.body
	n, err := socketRead(int(fd), rd.target(body))
	if err == syscall.EAGAIN {
		if !body {
			rd.releaseIfEmpty() // wait for readability without holding a buffer
		}
		return false
	}
	if err == syscall.EINTR {
		return false
	}
	rc.n = max(n, 0)
	if errno, ok := err.(syscall.Errno); ok {
		rc.errno = errno
	}
	return true
}

// empty reports whether no unparsed bytes are buffered and no packet is in
// progress: the next read waits on the socket for a new packet.
func (rd *reader) empty() bool { return rd.pend == nil && (rd.buf == nil || rd.r == rd.w) }

// midPacket reports whether part of a packet has arrived and the rest has not.
// Call only when next returned an error.
func (rd *reader) midPacket() bool { return rd.pend != nil || (rd.buf != nil && rd.r < rd.w) }

// release returns the buffers, for a connection that is done.
func (rd *reader) release() {
	if rd.buf != nil {
		readBufs.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
	if rd.pend != nil {
		rd.pend.budget.Give(int64(cap(rd.pend.body)))
		rd.pend = nil
	}
}
