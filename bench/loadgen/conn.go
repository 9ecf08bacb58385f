package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// conn is one MQTT connection of the load generator. Exactly one goroutine
// writes to w at a time (the publisher loop, or the reader for PUBACKs on a
// subscriber), so no lock guards it; the reader goroutine started by readLoop
// owns r.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // encode scratch, owned by the writer
}

// keepAlive is the keep-alive every benchmark client asks for: long enough
// that no PINGREQ is due during a run, and not 0, which some brokers warn
// about once per connection (mochi logs a line for each).
const keepAlive = 3600

// runTag returns a tag for one run's client ids, different from every
// earlier run's of this process (and, being random across processes, most
// likely from another process's). A clean-session client that reuses the
// id of a connection the broker is still tearing down races that
// teardown: mochi v2.7.9 checks that the old connection was not taken over,
// then deletes its id from the client map, where the new connection's
// entry stands by then, and from that moment acknowledges the new client's
// publishes but delivers it nothing (one round trip in a few thousand of
// pingpong-q2-8 run right after pingpong-q1-8 on a busy machine: PUBCOMP
// and PINGRESP came, the delivery never did). The scenarios measure steady
// traffic, not takeovers, so each run's clean clients have ids of their own
// (pingpong, fleet, flow). The idle scenario keeps bench-idle-N: decision
// 0049's per-connection bytes count that id's length.
func runTag() string {
	return fmt.Sprintf("%04x", uint16(runTagBase+runTagSeq.Add(1)))
}

var (
	runTagBase = rand.Uint32()
	runTagSeq  atomic.Uint32
)

// handshakeTimeout bounds CONNECT/CONNACK and SUBSCRIBE/SUBACK.
const handshakeTimeout = 10 * time.Second

// dial connects (over the transport addr names, see transport.go) with a clean session, sends CONNECT and waits for a
// successful CONNACK.
func dial(addr, clientID string, keepAlive uint16, bufSize int) (*conn, error) {
	c, _, err := dialSession(addr, clientID, keepAlive, bufSize, true)
	return c, err
}

// dialSession is dial with the clean-session flag chosen: clean false asks
// for a persistent session (MQTT 3.1.1 section 3.1.2.4), which the broker
// keeps, with its subscriptions and queued QoS 1 messages, after the
// connection ends. It reports the CONNACK's session-present flag.
func dialSession(addr, clientID string, keepAlive uint16, bufSize int, clean bool) (*conn, bool, error) {
	nc, err := dialBroker(addr, handshakeTimeout)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &conn{nc: nc, r: bufio.NewReaderSize(nc, bufSize), w: bufio.NewWriterSize(nc, bufSize)}
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	c.buf = wire.AppendConnectLogin(c.buf[:0], clientID, keepAlive, clean, login.username, login.password)
	if _, err := nc.Write(c.buf); err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("write CONNECT for %s: %w", clientID, err)
	}
	h, body, err := wire.Read(c.r, nil)
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("read CONNACK for %s: %w", clientID, err)
	}
	c.buf = body[:0]
	if h.Type != wire.CONNACK {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: got packet type %d, want CONNACK", clientID, h.Type)
	}
	ack, err := wire.ParseConnAck(h.Body)
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: CONNACK: %w", clientID, err)
	}
	if ack.ReturnCode != 0 {
		nc.Close()
		return nil, false, fmt.Errorf("client %s: %w", clientID, refusedError{"CONNACK", ack.ReturnCode})
	}
	_ = nc.SetDeadline(time.Time{})
	return c, ack.SessionPresent, nil
}

// subscribe sends SUBSCRIBE and waits for its SUBACK; call it before readLoop.
func (c *conn) subscribe(filter string, qos byte) error {
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	c.buf = wire.AppendSubscribe(c.buf[:0], 1, filter, qos)
	if _, err := c.nc.Write(c.buf); err != nil {
		return fmt.Errorf("write SUBSCRIBE %q: %w", filter, err)
	}
	for {
		h, body, err := wire.Read(c.r, c.buf)
		c.buf = body[:0]
		if err != nil {
			return fmt.Errorf("read SUBACK %q: %w", filter, err)
		}
		if h.Type != wire.SUBACK {
			continue // e.g. a stray retained PUBLISH; the benchmark topics have none
		}
		_, codes, err := wire.ParseSubAck(h.Body)
		if err != nil {
			return fmt.Errorf("SUBACK %q: %w", filter, err)
		}
		if len(codes) != 1 {
			return fmt.Errorf("SUBACK %q: %d return codes, want 1", filter, len(codes))
		}
		if codes[0] > 2 {
			return fmt.Errorf("SUBSCRIBE %q: %w", filter, refusedError{"SUBACK", codes[0]})
		}
		return nil
	}
}

// readLoop reads packets until the connection fails or is closed, calling
// handle for each. It runs in the caller's goroutine.
func (c *conn) readLoop(handle func(h wire.Header)) error {
	var buf []byte
	for {
		h, b, err := wire.Read(c.r, buf)
		buf = b
		if err != nil {
			return err
		}
		handle(h)
	}
}

// close sends DISCONNECT (best effort) and closes the socket.
func (c *conn) close() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.w.Flush()
	_, _ = c.nc.Write(wire.AppendDisconnect(nil))
	_ = c.nc.Close()
}
