package wire

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// A WebSocket client written here rather than taken from a library: the
// suite judges brokers, and Plume's listener uses gorilla/websocket; the
// two sides of a test should not share their mistakes. It is also the one
// WebSocket reader here whose deadlines only interrupt: a Read that times
// out leaves the stream intact, as the suite's waits need (RFC 6455 frames
// are parsed from a bufio.Reader by Peek, so nothing is consumed until a
// whole header is there).

// wsGUID is the constant RFC 6455 section 1.3 hashes with the key.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// ErrUpgrade reports a WebSocket upgrade the broker refused or answered
// wrongly.
var ErrUpgrade = errors.New("websocket upgrade")

// upgrade sends the opening handshake on nc for t's path, offering
// protocol, and checks the answer: 101, the accept key, and the
// subprotocol echoed [MQTT-6.0.0-4].
func upgrade(ctx context.Context, nc net.Conn, t Target, protocol string) (*wsClient, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	req := "GET " + t.Path + " HTTP/1.1\r\nHost: " + t.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " + protocol + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUpgrade, err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUpgrade, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s %s: %q", ErrUpgrade, t.Path, resp.Status, body)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("%w: Sec-WebSocket-Accept %q does not match the key", ErrUpgrade, got)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != protocol {
		return nil, fmt.Errorf("%w: subprotocol %q, want %q [MQTT-6.0.0-4]", ErrUpgrade, got, protocol)
	}
	return &wsClient{Conn: nc, br: br}, nil
}

// wsClient is the client side of a WebSocket connection as a net.Conn: its
// bytes are the payloads of the broker's binary frames; each Write is one
// masked binary frame. Deadlines and addresses are the underlying conn's.
type wsClient struct {
	net.Conn
	br        *bufio.Reader
	remaining int64 // payload bytes left in the current data frame
	eof       bool  // the broker sent a close frame

	wmu       sync.Mutex
	closeSent bool
}

func (c *wsClient) Read(p []byte) (int, error) {
	for {
		switch {
		case c.eof:
			return 0, io.EOF
		case c.remaining > 0:
			if int64(len(p)) > c.remaining {
				p = p[:c.remaining]
			}
			n, err := c.br.Read(p)
			c.remaining -= int64(n)
			return n, err
		}
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
}

// nextFrame reads one frame header, and a control frame whole, consuming
// nothing unless all of it is there.
func (c *wsClient) nextFrame() error {
	h, err := c.br.Peek(2)
	if err != nil {
		return err
	}
	op := h[0] & 0x0F
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return fmt.Errorf("websocket: reserved bits or a mask on a frame from the broker (% x)", h[:2])
	}
	hs, n := 2, int64(h[1]&0x7F)
	switch n {
	case 126:
		hs = 4
	case 127:
		hs = 10
	}
	if h, err = c.br.Peek(hs); err != nil {
		return err
	}
	switch hs {
	case 4:
		n = int64(binary.BigEndian.Uint16(h[2:]))
	case 10:
		n = int64(binary.BigEndian.Uint64(h[2:]))
	}
	switch op {
	case opBinary, opContinuation:
		_, _ = c.br.Discard(hs)
		c.remaining = n
		return nil
	case opClose, opPing, opPong:
		if n > 125 {
			return fmt.Errorf("websocket: control frame of %d bytes", n)
		}
		f, err := c.br.Peek(hs + int(n))
		if err != nil {
			return err
		}
		payload := append([]byte(nil), f[hs:]...)
		_, _ = c.br.Discard(hs + int(n))
		switch op {
		case opClose:
			c.eof = true
			_ = c.writeFrame(opClose, payload[:min(2, len(payload))]) // echo the code
			return io.EOF
		case opPing:
			return c.writeFrame(opPong, payload)
		}
		return nil
	}
	return fmt.Errorf("websocket: opcode %#x from the broker; MQTT travels in binary frames only [MQTT-6.0.0-1]", op)
}

// Write sends p as one binary frame.
func (c *wsClient) Write(p []byte) (int, error) {
	if err := c.writeFrame(opBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFrame sends one final, masked frame; after a close frame, nothing.
func (c *wsClient) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return net.ErrClosed
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	buf := make([]byte, 0, 14+len(payload))
	buf = append(buf, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n < 1<<16:
		buf = binary.BigEndian.AppendUint16(append(buf, 0x80|126), uint16(n))
	default:
		buf = binary.BigEndian.AppendUint64(append(buf, 0x80|127), uint64(n))
	}
	buf = append(buf, mask[:]...)
	for i, b := range payload {
		buf = append(buf, b^mask[i&3])
	}
	_, err := c.Conn.Write(buf)
	if op == opClose {
		c.closeSent = true
	}
	return err
}

// CloseWrite sends a close frame (1000): the WebSocket half-close.
func (c *wsClient) CloseWrite() error {
	return c.writeFrame(opClose, []byte{0x03, 0xE8})
}

// Close sends a close frame, if none was sent, and closes the connection.
func (c *wsClient) Close() error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = c.CloseWrite()
	return c.Conn.Close()
}
