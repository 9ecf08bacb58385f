package broker

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// readBufSize is the size of the pooled buffer a connection reads into while
// it has bytes to parse. Idle connections hold no buffer (see reader.fill).
const readBufSize = 4096

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// reader frames MQTT packets off a connection.
//
// Memory per idle connection is an architectural choice (docs/decisions):
// a reader borrows its buffer from a pool only while bytes are waiting to be
// parsed. On a TCP connection it waits for readability through
// syscall.RawConn, so a blocked reader holds no buffer at all; on other
// connections (TLS, WebSocket) it must hold one while it blocks in Read.
type reader struct {
	conn net.Conn
	raw  syscall.RawConn // nil when the connection has no file descriptor
	buf  *[]byte
	r, w int
	// lastRead is when bytes last came off the socket, for keep-alive and parking.
	lastRead time.Time
}

func newReader(conn net.Conn) reader {
	rd := reader{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			rd.raw = raw
		}
	}
	return rd
}

// errPacketTooLarge answers a fixed header announcing more than the limit [MQTT-3.2.2-15].
var errPacketTooLarge = &packets.Error{Reason: packets.PacketTooLarge, Msg: "packet exceeds the maximum packet size"}

// next returns the next packet's fixed header and body. The body of PUBLISH,
// CONNECT, SUBSCRIBE and UNSUBSCRIBE is a fresh slice that decoded packets may
// alias for as long as they like; other bodies may point into the read buffer
// and are valid only until the next call.
func (rd *reader) next(limit uint32) (packets.FixedHeader, []byte, error) {
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
				rd.r += n
				body, err := rd.body(h)
				return h, body, err
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

func (rd *reader) body(h packets.FixedHeader) ([]byte, error) {
	avail := rd.w - rd.r
	if h.Remaining <= avail && !keepsBody(h.Type) {
		b := (*rd.buf)[rd.r : rd.r+h.Remaining]
		rd.r += h.Remaining
		// Not released here: b aliases the buffer until the next call.
		return b, nil
	}
	body := make([]byte, h.Remaining)
	n := copy(body, (*rd.buf)[rd.r:rd.w])
	rd.r += n
	rd.releaseIfEmpty()
	if n < len(body) {
		if _, err := io.ReadFull(rd.conn, body[n:]); err != nil {
			return nil, err
		}
	}
	return body, nil
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
		rd.w = copy(*rd.buf, (*rd.buf)[rd.r:rd.w])
		rd.r = 0
	}
	if rd.raw == nil {
		if rd.buf == nil {
			rd.buf = readBufs.Get().(*[]byte)
		}
		n, err := rd.conn.Read((*rd.buf)[rd.w:])
		rd.w += n
		if n > 0 {
			rd.lastRead = time.Now()
			return nil
		}
		rd.releaseIfEmpty()
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	var n int
	var rerr error
	err := rd.raw.Read(func(fd uintptr) bool {
		if rd.buf == nil {
			rd.buf = readBufs.Get().(*[]byte)
		}
		n, rerr = syscall.Read(int(fd), (*rd.buf)[rd.w:])
		if rerr == syscall.EAGAIN {
			rd.releaseIfEmpty() // wait for readability without holding a buffer
			return false
		}
		return rerr != syscall.EINTR
	})
	if err == nil {
		err = rerr
	}
	if n > 0 {
		rd.w += n
		rd.lastRead = time.Now()
		return nil
	}
	rd.releaseIfEmpty()
	if err == nil {
		return io.EOF
	}
	return err
}

// empty reports whether no unparsed bytes are buffered: the next read waits on the socket.
func (rd *reader) empty() bool { return rd.buf == nil || rd.r == rd.w }

// release returns the buffer, for a connection that is done.
func (rd *reader) release() {
	if rd.buf != nil {
		readBufs.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
}
