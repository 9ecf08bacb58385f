package transport_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/plumemq/plume/conformance/wire"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/transport"
)

// These tests drive the listener with gorilla's client, which sends what the
// suite's own client (conformance/wire) never does: text frames, fragmented
// messages, odd subprotocols.

// gorillaDial upgrades to l at path offering protocols; d's zero value
// is a plain client.
func gorillaDial(t *testing.T, d websocket.Dialer, l transport.Listener, path string, protocols []string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d.Subprotocols = protocols
	d.HandshakeTimeout = wait
	c, resp, err := d.Dial(wsURL(l, path), h)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(wait))
	}
	return c, resp, err
}

// stream reads the payloads of a connection's binary messages as one
// stream: a message may hold several packets, and a packet may span
// messages.
type stream struct {
	c *websocket.Conn
	r io.Reader
}

func (s *stream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("message type %d, want binary [MQTT-6.0.0-1]", typ)
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// readPacket reads the next packet from s.
func readPacket(t *testing.T, s *stream) *wire.Packet {
	t.Helper()
	p, err := wire.ReadPacket(s, 5)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWSPacketsSpanFramesAndShareThem(t *testing.T) {
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{})
	// Frames of 8 bytes: every message below is a first frame and
	// continuation frames.
	c, _, err := gorillaDial(t, websocket.Dialer{WriteBufferSize: 8}, l, "/mqtt", []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{c: c}
	connect := wire.Connect{Version: 5, ClientID: "split", CleanStart: true}.Encode()
	// The CONNECT split across two messages.
	for _, part := range [][]byte{connect[:3], connect[3:]} {
		if err := c.WriteMessage(websocket.BinaryMessage, part); err != nil {
			t.Fatal(err)
		}
	}
	if p := readPacket(t, s); p.Type != wire.CONNACK || p.ReasonCode != 0 {
		t.Fatalf("got %s, want CONNACK 0", p)
	}
	// SUBSCRIBE and a PUBLISH to it in one message: both are answered.
	both := wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: "split/t"}}}.Encode(5)
	both = append(both, wire.Publish{Topic: "split/t", Payload: []byte("two in one")}.Encode(5)...)
	if err := c.WriteMessage(websocket.BinaryMessage, both); err != nil {
		t.Fatal(err)
	}
	if p := readPacket(t, s); p.Type != wire.SUBACK {
		t.Fatalf("got %s, want SUBACK", p)
	}
	if p := readPacket(t, s); p.Type != wire.PUBLISH || string(p.Payload) != "two in one" {
		t.Fatalf("got %s, want the PUBLISH back", p)
	}
}

func TestWSTextFrameClosesTheConnection(t *testing.T) {
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{})
	c, _, err := gorillaDial(t, websocket.Dialer{}, l, "/mqtt", []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	connect := wire.Connect{Version: 5, ClientID: "text", CleanStart: true}.Encode()
	if err := c.WriteMessage(websocket.TextMessage, connect); err != nil {
		t.Fatal(err)
	}
	// [MQTT-6.0.0-1] no CONNACK: a close frame saying why, then the end.
	_, msg, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("after a text frame: message % x, error %v; want close 1003", msg, err)
	}
}

func TestWSWrongPathIs404(t *testing.T) {
	l, _ := startWS(t, transport.Config{Type: "ws", Path: "/broker"}, broker.Options{})
	_, resp, err := gorillaDial(t, websocket.Dialer{}, l, "/mqtt", []string{"mqtt"}, nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("upgrade at /mqtt of a listener on /broker: %v, %v; want 404", err, resp)
	}
	if _, _, err := gorillaDial(t, websocket.Dialer{}, l, "/broker", []string{"mqtt"}, nil); err != nil {
		t.Fatalf("upgrade at the configured path: %v", err)
	}
}

func TestWSSubprotocols(t *testing.T) {
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{})
	for _, tc := range []struct {
		offer []string
		want  string // the subprotocol agreed; "refused" for a 400
	}{
		{[]string{"mqtt"}, "mqtt"},
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"chat", "mqttv3.1", "mqtt"}, "mqtt"},
		{nil, ""}, // tolerated: decision 0021
		{[]string{"chat"}, "refused"},
		{[]string{"mqtt5"}, "refused"},
	} {
		c, resp, err := gorillaDial(t, websocket.Dialer{}, l, "/mqtt", tc.offer, nil)
		switch {
		case tc.want == "refused":
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("offering %q: %v, %v; want 400", tc.offer, err, resp)
			}
		case err != nil:
			t.Errorf("offering %q: %v", tc.offer, err)
		case c.Subprotocol() != tc.want:
			t.Errorf("offering %q: agreed %q, want %q", tc.offer, c.Subprotocol(), tc.want)
		}
	}
}

func TestWSLargeMessages(t *testing.T) {
	const max = 2 << 20
	l, _ := startWS(t, transport.Config{Type: "ws"}, broker.Options{Limits: broker.Limits{MaxPacketSize: max}})
	d := dialer(t, nil)
	sub := connectWire(t, d, wsURL(l, "/mqtt"), "big-sub")
	subscribe(t, sub, "big")
	pub := connectWire(t, d, wsURL(l, "/mqtt"), "big-pub")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	send(t, pub, wire.Publish{Topic: "big", QoS: 1, PacketID: 1, Payload: payload}.Encode(5))
	expect(t, pub, wire.PUBACK)
	if got := expect(t, sub, wire.PUBLISH); !bytes.Equal(got.Payload, payload) {
		t.Fatalf("received %d bytes, want the 1 MiB sent", len(got.Payload))
	}

	// A message longer than the largest packet and its fixed header is
	// refused by the WebSocket layer on its frame header, before the broker
	// sees a byte of it. Only the header is sent (masked, as a client must),
	// so that the close frame is not lost to a reset.
	var raw net.Conn
	d2 := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		var err error
		raw, err = net.DialTimeout(network, addr, wait)
		return raw, err
	}}
	c, _, err := gorillaDial(t, d2, l, "/mqtt", []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	header := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, max+6)
	if _, err := raw.Write(append(header, 1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("after a message over the limit: % x, %v; want close 1009", msg, err)
	}
}
