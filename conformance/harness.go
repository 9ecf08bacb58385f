package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// T is what a test case gets: the broker's address, the protocol version
// under test, a deadline, unique names, and ways to fail or skip.
type T struct {
	ctx    context.Context
	o      *Options
	V      byte // protocol version: 4 (3.1.1) or 5
	name   string
	prefix string // unique topic prefix of this test
	tag    string // unique short tag of this test, for client ids

	// oldConnackOK accepts a 3.1.1-shaped CONNACK 0x01 as the refusal of an
	// unknown protocol version in a 5.0 test.
	oldConnackOK bool
	deadline     time.Time

	mu         sync.Mutex
	conns      []*wire.Conn
	status     Status
	detail     string
	violations []wire.Violation
	cleanups   []func()
}

// Fatalf fails the test and stops it.
func (t *T) Fatalf(format string, a ...any) {
	t.mu.Lock()
	if t.status != Fail {
		t.status, t.detail = Fail, fmt.Sprintf(format, a...)
	}
	t.mu.Unlock()
	runtime.Goexit()
}

// Skipf marks the test skipped and stops it.
func (t *T) Skipf(format string, a ...any) {
	t.mu.Lock()
	t.status, t.detail = Skip, fmt.Sprintf(format, a...)
	t.mu.Unlock()
	runtime.Goexit()
}

// Opts returns the suite's options.
func (t *T) Opts() *Options { return t.o }

// Topic returns a topic unique to this run and test.
func (t *T) Topic(s string) string { return t.prefix + "/" + s }

// ID returns a client identifier unique to this run and test (at most 23
// characters from the set every broker must accept).
func (t *T) ID(s string) string {
	id := t.tag + s
	if len(id) > 23 {
		id = id[:23]
	}
	return id
}

// Left is the time left before the test's deadline.
func (t *T) Left() time.Duration {
	d := time.Until(t.deadline)
	if d < 0 {
		return 0
	}
	return d
}

// Wait is how long to wait for a broker reaction: the time left, capped.
func (t *T) Wait(max time.Duration) time.Duration {
	if d := t.Left(); d < max {
		return d
	}
	return max
}

// Cleanup registers f to run after the test, also after a failure.
func (t *T) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *T) track(c *wire.Conn) {
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
}

func (t *T) closeAll() {
	t.mu.Lock()
	cs := t.conns
	t.conns = nil
	t.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

func (t *T) noteViolations(p *wire.Packet) {
	if len(p.Violations) == 0 {
		return
	}
	t.mu.Lock()
	t.violations = append(t.violations, p.Violations...)
	t.mu.Unlock()
}

// Dial opens a raw connection for this test's version.
func (t *T) Dial() *Client {
	ctx, cancel := context.WithDeadline(t.ctx, t.deadline)
	defer cancel()
	c, err := t.o.dial(ctx, t.V)
	if err != nil {
		t.Fatalf("dial %s: %v", t.o.Broker, err)
	}
	t.track(c)
	return &Client{Conn: c, t: t, nextID: 1, maxQoS: 2}
}

// ConnectPacket returns a valid CONNECT for this test: clean start, a unique
// client id built from name, keep alive 60 s.
func (t *T) ConnectPacket(name string) wire.Connect {
	cp := wire.Connect{Version: t.V, ClientID: t.ID(name), CleanStart: true, KeepAlive: 60}
	t.credentials(&cp)
	return cp
}

// credentials adds the user name and password of the options, if any.
func (t *T) credentials(cp *wire.Connect) {
	if t.o.Username != "" {
		u := t.o.Username
		cp.Username = &u
	}
	if t.o.Password != "" {
		cp.Password = []byte(t.o.Password)
	}
}

// Connect dials and connects with the given CONNECT, failing the test unless
// the broker accepts it.
func (t *T) Connect(c wire.Connect) (*Client, *wire.Packet) {
	cl := t.Dial()
	cl.Send(c.Encode())
	ack := cl.Expect(wire.CONNACK)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNECT %q refused with code 0x%02x", c.ClientID, ack.ReasonCode)
	}
	cl.ClientID = c.ClientID
	if q, ok := ack.Props.Get(wire.PropMaximumQoS); ok {
		cl.maxQoS = byte(q.Int)
	}
	if r, ok := ack.Props.Get(wire.PropRetainAvailable); ok && r.Int == 0 {
		cl.noRetain = true
	}
	if c.ClientID == "" {
		if p, ok := ack.Props.Get(wire.PropAssignedClientID); ok {
			cl.ClientID = p.Str
		}
	}
	return cl, ack
}

// Client connects with a default CONNECT built from name.
func (t *T) Client(name string) *Client {
	c, _ := t.Connect(t.ConnectPacket(name))
	return c
}

// Check fails the test unless cond holds.
func (t *T) Check(cond bool, format string, a ...any) {
	if !cond {
		t.Fatalf(format, a...)
	}
}

// ClearRetained removes a retained message with a fresh connection.
func (t *T) ClearRetained(topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := t.o.dial(ctx, t.V)
	if err != nil {
		return
	}
	defer c.Close()
	cp := wire.Connect{Version: t.V, ClientID: t.ID("clr"), CleanStart: true}
	t.credentials(&cp)
	c.Write(cp.Encode(), time.Second)
	if p, err := c.Read(2 * time.Second); err != nil || p.Type != wire.CONNACK {
		return
	}
	c.Write(wire.Publish{Topic: topic, Retain: true, QoS: 1, PacketID: 1}.Encode(t.V), time.Second)
	c.Read(2 * time.Second)
	c.Write(wire.Disconnect(t.V, 0, nil), time.Second)
}

// RetainedTopic returns a unique topic whose retained message is cleared
// after the test.
func (t *T) RetainedTopic(s string) string {
	topic := t.Topic(s)
	t.Cleanup(func() { t.ClearRetained(topic) })
	return topic
}

// EndSession removes a persistent session with a clean start connection.
func (t *T) EndSession(clientID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := t.o.dial(ctx, t.V)
	if err != nil {
		return
	}
	defer c.Close()
	cp := wire.Connect{Version: t.V, ClientID: clientID, CleanStart: true}
	t.credentials(&cp)
	c.Write(cp.Encode(), time.Second)
	c.Read(2 * time.Second)
	c.Write(wire.Disconnect(t.V, 0, nil), time.Second)
}

// newTag returns a random tag of 8 hex digits.
func newTag() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var errHung = errors.New("test did not finish")
