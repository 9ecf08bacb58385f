package broker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// wait is how long a test waits for something that should happen promptly.
const wait = 3 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// withoutStore as Options.Store starts a broker with no store at all, as
// plume without --data-dir runs.
var withoutStore session.Store = new(session.MemoryStore)

// testBroker is a broker serving on a loopback port.
type testBroker struct {
	*broker.Broker
	addr  string
	store session.Store
	done  chan error
}

// startBroker starts a broker with opts on 127.0.0.1:0. Unless opts says
// otherwise, anonymous clients are allowed, $SYS is off and the log is silent.
// The broker is shut down when the test ends.
func startBroker(t *testing.T, opts broker.Options) *testBroker {
	t.Helper()
	tb := startBrokerNoCleanup(t, opts)
	t.Cleanup(func() { tb.shutdown(t) })
	return tb
}

func startBrokerNoCleanup(t *testing.T, opts broker.Options) *testBroker {
	t.Helper()
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	if os.Getenv("PLUME_TEST_LOG") != "" {
		opts.Log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr})
	} // else the zero Logger writes nothing
	switch opts.Store {
	case nil:
		if os.Getenv("PLUME_TEST_NO_STORE") != "" {
			// The whole suite without a journal: the paths a broker with no
			// store takes (serving inline, inline_linux.go) under every test.
			opts.Store = nil
			break
		}
		// Tests run with a store, so that every flow also goes through the
		// journal and its held answers (durable.go).
		opts.Store = session.NewMemoryStore()
	case withoutStore:
		opts.Store = nil
	}
	b, err := broker.New(opts)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	tb := &testBroker{Broker: b, addr: l.Addr().String(), store: opts.Store, done: make(chan error, 1)}
	go func() { tb.done <- b.Serve(l, "test") }()
	return tb
}

// shutdown stops the broker and waits for Serve to return.
func (tb *testBroker) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-tb.done:
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Error("Serve did not return after Shutdown")
	}
}

// eventually polls cond until it holds or the deadline passes. For state that
// has no channel to wait on (broker counters).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- raw client: bytes over TCP, for what the libraries cannot express ----

type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	v    byte
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), v: packets.V5}
}

// connectRaw dials and sends cp, expecting a successful CONNACK.
func connectRaw(t *testing.T, addr string, cp *packets.Connect) (*rawClient, *packets.Connack) {
	t.Helper()
	c := dialRaw(t, addr)
	ack := c.connect(cp)
	if ack.Reason != packets.Success {
		t.Fatalf("CONNACK reason %v", ack.Reason)
	}
	return c, ack
}

// v5Connect is a 5.0 CONNECT for id with Clean Start.
func v5Connect(id string) *packets.Connect {
	return &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id}
}

func (c *rawClient) connect(cp *packets.Connect) *packets.Connack {
	c.t.Helper()
	if cp.ProtocolName == "" {
		cp.ProtocolName = "MQTT"
	}
	c.v = cp.ProtocolVersion
	c.send(cp)
	p := c.next()
	ack, ok := p.(*packets.Connack)
	if !ok {
		c.t.Fatalf("got %T, want CONNACK", p)
	}
	return ack
}

func (c *rawClient) send(p packets.Packet) {
	c.t.Helper()
	c.write(p.Append(nil, c.v))
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet or the read error, waiting at most d.
func (c *rawClient) read(d time.Duration) (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	return packets.ReadPacket(c.r, c.v, 0)
}

// next returns the next packet, failing the test if none comes in time.
func (c *rawClient) next() packets.Packet {
	c.t.Helper()
	p, err := c.read(wait)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// nextPublish skips nothing: the next packet must be a PUBLISH.
func (c *rawClient) nextPublish() *packets.Publish {
	c.t.Helper()
	p := c.next()
	pub, ok := p.(*packets.Publish)
	if !ok {
		c.t.Fatalf("got %T %+v, want PUBLISH", p, p)
	}
	return pub
}

// expectNothing fails if a packet arrives within d.
func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.read(d)
	if err == nil {
		c.t.Fatalf("unexpected %T %+v", p, p)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection failed while expecting silence: %v", err)
	}
}

// expectDisconnect wants a DISCONNECT with reason, then the connection closed.
func (c *rawClient) expectDisconnect(reason packets.ReasonCode) *packets.Disconnect {
	c.t.Helper()
	p := c.next()
	d, ok := p.(*packets.Disconnect)
	if !ok {
		c.t.Fatalf("got %T %+v, want DISCONNECT %v", p, p, reason)
	}
	if d.Reason != reason {
		c.t.Fatalf("DISCONNECT reason %#x (%v), want %#x (%v)", byte(d.Reason), d.Reason, byte(reason), reason)
	}
	c.expectClosed()
	return d
}

// expectClosed wants the server to close the connection, with no more packets.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open")
		}
	}
	if len(b) > 0 {
		c.t.Fatalf("%d more bytes before close: % x", len(b), b)
	}
}

func (c *rawClient) subscribe(id uint16, subs ...packets.Subscription) *packets.Suback {
	c.t.Helper()
	c.send(&packets.Subscribe{PacketID: id, Subscriptions: subs})
	return c.expectSuback(id)
}

func (c *rawClient) expectSuback(id uint16) *packets.Suback {
	c.t.Helper()
	p := c.next()
	ack, ok := p.(*packets.Suback)
	if !ok || ack.PacketID != id {
		c.t.Fatalf("got %T %+v, want SUBACK %d", p, p, id)
	}
	for _, r := range ack.Reasons {
		if r.IsError() {
			c.t.Fatalf("SUBACK refused: %v", ack.Reasons)
		}
	}
	return ack
}

func (c *rawClient) expectAck(kind packets.Type, id uint16) *packets.Ack {
	c.t.Helper()
	p := c.next()
	a, ok := p.(*packets.Ack)
	if !ok || a.Kind != kind || a.PacketID != id {
		c.t.Fatalf("got %T %+v, want %v %d", p, p, kind, id)
	}
	return a
}

func (c *rawClient) ack(kind packets.Type, id uint16) {
	c.t.Helper()
	c.send(&packets.Ack{Kind: kind, PacketID: id})
}

func (c *rawClient) publish(p *packets.Publish) {
	c.t.Helper()
	c.send(p)
}

func (c *rawClient) disconnect(reason packets.ReasonCode) {
	c.t.Helper()
	c.send(&packets.Disconnect{Reason: reason})
	c.expectClosed()
}

func sub(filter string, qos byte) packets.Subscription {
	return packets.Subscription{Filter: filter, QoS: qos}
}

// ---- paho.golang (5.0) ----

type v5Client struct {
	*paho.Client
	msgs chan *paho.Publish
}

// dialV5 connects a paho.golang client; received messages arrive on msgs.
func dialV5(t *testing.T, addr string, cp *paho.Connect) (*v5Client, *paho.Connack) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	msgs := make(chan *paho.Publish, 100)
	c := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				msgs <- pr.Packet
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		t.Fatalf("paho connect: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Error("paho client did not stop")
		}
	})
	return &v5Client{Client: c, msgs: msgs}, ack
}

func (c *v5Client) expectMessage(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message received")
		return nil
	}
}

func (c *v5Client) expectNoMessage(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %q: %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func deadline() time.Time { return time.Now().Add(wait) }

// ---- the broker's log ----

// logBuffer collects a broker's JSON log lines for a test to count.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

type logLine struct {
	Level      string `json:"level"`
	Message    string `json:"message"`
	ClientID   string `json:"client_id"`
	Reason     string `json:"reason"`
	Suppressed uint64 `json:"suppressed"`
}

func (l *logBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line logLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, line)
	}
	return out
}

// find returns the log entries whose message is msg, with every field.
func (l *logBuffer) find(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}
