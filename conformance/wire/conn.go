package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// ErrTimeout is returned when nothing arrived before the deadline.
var ErrTimeout = errors.New("timed out waiting for the broker")

// ErrClosed is returned when the broker closed the connection.
var ErrClosed = errors.New("connection closed by the broker")

// Conn is a raw connection to a broker. It is not safe for concurrent reads.
type Conn struct {
	nc      net.Conn     // TCP, TLS or WebSocket
	tcp     *net.TCPConn // under nc
	br      *bufio.Reader
	Version byte
}

// Addr turns "tcp://host:port", "mqtt://host:port" or "host:port" into a
// dialable address.
func Addr(broker string) (string, error) {
	for _, p := range []string{"tcp://", "mqtt://"} {
		broker = strings.TrimPrefix(broker, p)
	}
	if strings.Contains(broker, "://") {
		return "", fmt.Errorf("broker %q: only tcp:// addresses are supported", broker)
	}
	if _, _, err := net.SplitHostPort(broker); err != nil {
		return "", fmt.Errorf("broker %q: %w", broker, err)
	}
	return broker, nil
}

// Dial connects to the broker (any URL Dialer takes), trusting the
// system's roots for TLS.
func Dial(ctx context.Context, broker string, version byte) (*Conn, error) {
	return Dialer{}.Dial(ctx, broker, version)
}

// Close closes the connection; a second call does nothing harmful.
func (c *Conn) Close() error { return c.nc.Close() }

// Abort ends the connection with a TCP reset instead of a FIN: linger 0,
// then close, so the broker's next read or write fails with "connection
// reset" rather than seeing an orderly end of stream.
func (c *Conn) Abort() error {
	if c.tcp == nil {
		return c.nc.Close()
	}
	if err := c.tcp.SetLinger(0); err != nil {
		c.tcp.Close()
		return fmt.Errorf("linger 0: %w", err)
	}
	return c.tcp.Close() // not nc: a TLS or WebSocket goodbye would be orderly
}

// CloseWrite half-closes the connection where the transport allows it: a
// TCP FIN, a TLS close_notify, a WebSocket close frame.
func (c *Conn) CloseWrite() error {
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.nc.Close()
}

// Write sends raw bytes, failing after the timeout.
func (c *Conn) Write(b []byte, timeout time.Duration) error {
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(b)
	return classify(err)
}

// Read reads one packet, waiting at most timeout. Errors are ErrTimeout,
// ErrClosed, or a decoding error wrapping ErrMalformed.
func (c *Conn) Read(timeout time.Duration) (*Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	p, err := ReadPacket(c.br, c.Version)
	if err != nil {
		return nil, classify(err)
	}
	return p, nil
}

func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, ErrMalformed):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		strings.Contains(err.Error(), "connection reset"), strings.Contains(err.Error(), "broken pipe"):
		return fmt.Errorf("%w (%v)", ErrClosed, err)
	}
	return err
}

// Outcome is what ExpectClosed saw.
type Outcome int

// Outcomes of ExpectClosed.
const (
	Closed   Outcome = iota // the broker closed the connection
	TimedOut                // the connection stayed open until the timeout
)

// ExpectClosed reads until the broker closes the connection or the timeout
// passes, and returns the packets that arrived on the way (a DISCONNECT, for
// instance). A malformed packet counts as a packet-less close: the test
// asked only whether the broker hung up.
func (c *Conn) ExpectClosed(timeout time.Duration) (Outcome, []*Packet) {
	end := time.Now().Add(timeout)
	var seen []*Packet
	for {
		left := time.Until(end)
		if left <= 0 {
			return TimedOut, seen
		}
		p, err := c.Read(left)
		switch {
		case err == nil:
			seen = append(seen, p)
		case errors.Is(err, ErrTimeout):
			return TimedOut, seen
		case errors.Is(err, ErrClosed):
			return Closed, seen
		default:
			return Closed, seen
		}
	}
}
