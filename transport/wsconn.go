package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/plumemq/plume/core/broker"
)

// wsConn is an upgraded WebSocket connection as the broker sees it: a
// net.Conn whose bytes are the payloads of the client's binary messages, in
// order, with message boundaries erased. MQTT packets may span messages and
// a message may hold several packets (MQTT 5.0 section 6); the broker's
// reader frames packets from the stream as it does from TCP. Each Write is
// one binary message.
//
// Reading runs on a goroutine of its own (pump), which hands the bytes to
// Read. The broker relies on read deadlines that only wake its reader: one
// passes every few seconds on an idle connection, and the reader goes on
// reading. Both WebSocket libraries treat a read that times out as the end of
// the connection, so the library is never given a read deadline: it reads on
// the pump, and Read's deadline (deadline below) interrupts only the wait for
// the pump. The cost is a goroutine per connection (decision 0021).
//
// wsConn does not expose a socket (syscall.Conn): the broker never parks it.
type wsConn struct {
	ws  *websocket.Conn
	raw net.Conn // the accepted connection: addresses and TLS identity

	chunks chan *chunk // from pump; closed after rerr is set
	rerr   error       // why the stream ended
	cur    *chunk      // what Read has not yet returned of the last chunk
	rd     deadline

	wmu       sync.Mutex                // gorilla takes one writer at a time
	wdeadline atomic.Pointer[time.Time] // the broker's write deadline
	goodbye   atomic.Bool               // a close frame was sent
	closed    chan struct{}
	closeOnce sync.Once
}

var _ broker.TransportConn = (*wsConn)(nil)

// chunkSize is what the pump reads at a time: the size of the read buffer
// gorilla took over from the HTTP server.
const chunkSize = 4 << 10

// chunk is bytes read by the pump; off of n are taken.
type chunk struct {
	buf    [chunkSize]byte
	n, off int
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// goodbyeWait bounds writing a close frame when the broker set no nearer
// write deadline: a client that reads nothing must not hold Close.
const goodbyeWait = time.Second

// errNotBinary ends a connection that sent a text frame.
var errNotBinary = errors.New("websocket: a text frame; MQTT travels in binary frames only [MQTT-6.0.0-1]")

func newWSConn(ws *websocket.Conn) *wsConn {
	c := &wsConn{ws: ws, raw: ws.NetConn(), chunks: make(chan *chunk), closed: make(chan struct{})}
	c.rd.cancel = make(chan struct{})
	go c.pump()
	return c
}

// pump reads the client's messages and hands their bytes to Read, one chunk
// at a time: it holds at most one chunk while Read holds another. An idle
// connection's pump waits for a frame header and holds none.
func (c *wsConn) pump() {
	defer close(c.chunks)
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.rerr = endOfStream(err)
			return
		}
		if typ != websocket.BinaryMessage {
			// [MQTT-6.0.0-1] any other data frame closes the network connection.
			c.rerr = errNotBinary
			_ = c.sayGoodbye(websocket.CloseUnsupportedData, "MQTT travels in binary frames only")
			_ = c.ws.Close()
			return
		}
		for {
			ch := chunkPool.Get().(*chunk)
			n, err := r.Read(ch.buf[:])
			if n == 0 {
				chunkPool.Put(ch)
			} else {
				ch.n, ch.off = n, 0
				select {
				case c.chunks <- ch:
				case <-c.closed:
					chunkPool.Put(ch)
					c.rerr = net.ErrClosed
					return
				}
			}
			if err == io.EOF {
				break // the next message
			}
			if err != nil {
				c.rerr = endOfStream(err)
				return
			}
		}
	}
}

// endOfStream turns how the library saw the stream end into what a TCP
// conn would say: a close frame with a normal code, or the TCP connection
// closed without one, is io.EOF.
func endOfStream(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure:
			return io.EOF
		}
		return fmt.Errorf("websocket closed by the client: %w", err)
	}
	return err
}

// Read returns the next bytes the client sent. A deadline that passes
// returns os.ErrDeadlineExceeded and leaves the stream as it was.
func (c *wsConn) Read(p []byte) (int, error) {
	if c.cur == nil {
		select {
		case ch, ok := <-c.chunks:
			if !ok {
				return 0, c.rerr
			}
			c.cur = ch
		case <-c.rd.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.cur.buf[c.cur.off:c.cur.n])
	c.cur.off += n
	if c.cur.off == c.cur.n {
		chunkPool.Put(c.cur)
		c.cur = nil
	}
	return n, nil
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// gorilla reads its deadline field unlocked: set it only here, under wmu.
	var dl time.Time
	if t := c.wdeadline.Load(); t != nil {
		dl = *t
	}
	_ = c.ws.SetWriteDeadline(dl)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite sends the WebSocket close frame (1000, normal closure). The
// broker calls it after its last packet and then reads until the client
// answers with its own close frame (Read says io.EOF) before closing: the
// WebSocket closing handshake, and the TCP half-close it replaces.
func (c *wsConn) CloseWrite() error {
	return c.sayGoodbye(websocket.CloseNormalClosure, "")
}

// sayGoodbye sends a close frame, once.
func (c *wsConn) sayGoodbye(code int, text string) error {
	if !c.goodbye.CompareAndSwap(false, true) {
		return nil
	}
	end := time.Now().Add(goodbyeWait)
	if t := c.wdeadline.Load(); t != nil && !t.IsZero() && t.Before(end) {
		end = *t
	}
	return c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), end)
}

// Close sends a close frame if none was sent (within goodbyeWait) and
// closes the connection; the pump then ends.
func (c *wsConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.sayGoodbye(websocket.CloseNormalClosure, "")
		err = c.ws.Close()
	})
	return err
}

// LocalAddr is the address the client connected to (as a PROXY header says,
// behind a balancer).
func (c *wsConn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr is the TCP peer's address, or the one a PROXY header gave.
// X-Forwarded-For is never read: any client can send it.
func (c *wsConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline bounds the wait in Read; the stream survives it.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline bounds writes, the one in progress included. A write
// that times out ends the connection, as the broker expects.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wdeadline.Store(&t)
	return c.raw.SetWriteDeadline(t) // reaches a write in progress
}

// TransportInfo is the verified client certificate of a wss connection;
// the TLS handshake finished before the upgrade.
func (c *wsConn) TransportInfo() broker.TransportInfo {
	if tc, ok := c.raw.(broker.TransportConn); ok {
		return tc.TransportInfo()
	}
	return broker.TransportInfo{}
}

// deadline is a read deadline that interrupts a wait without ending
// anything: its channel is closed while the deadline is past (as net.Pipe
// does it).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

// set moves the deadline to t; zero means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	passed := isClosed(d.cancel)
	if t.IsZero() {
		if passed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if passed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !passed {
		close(d.cancel)
	}
}

// wait is closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
