package wire

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseBroker(t *testing.T) {
	for in, want := range map[string]Target{
		"tcp://h:1":            {Addr: "h:1"},
		"h:1":                  {Addr: "h:1"},
		"mqtts://h:8883":       {TLS: true, Addr: "h:8883"},
		"tls://h:8883":         {TLS: true, Addr: "h:8883"},
		"ws://h:80":            {WS: true, Addr: "h:80", Path: "/mqtt"},
		"ws://h:80/broker?x=1": {WS: true, Addr: "h:80", Path: "/broker?x=1"},
		"wss://h:443/mqtt":     {WS: true, TLS: true, Addr: "h:443", Path: "/mqtt"},
	} {
		if got, err := ParseBroker(in); err != nil || got != want {
			t.Errorf("ParseBroker(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://h:1", "tcp://h:1/mqtt", "ws://nohost/mqtt", "quic://h:1"} {
		if _, err := ParseBroker(bad); err == nil {
			t.Errorf("ParseBroker(%q) accepted", bad)
		}
	}
}

// TestWSReadTimeoutKeepsTheStream: the suite waits with read deadlines
// and reads on after them. A frame whose header arrives in pieces, with
// timeouts in between, must still be read whole.
func TestWSReadTimeoutKeepsTheStream(t *testing.T) {
	step := make(chan struct{})
	addr := serve(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil || req.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + wsGUID))
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
		// A binary frame with a 16-bit length, its header one byte at a
		// time, each after the client has timed out once; then its payload,
		// a PINGRESP; then a ping.
		for _, b := range [][]byte{{0x82}, {126}, {0}, {2}, {0xD0, 0x00}, {0x89, 0x00}, nil} {
			select {
			case <-step:
			case <-time.After(10 * time.Second): // the test failed
				return
			}
			c.Write(b)
		}
	})
	c, err := Dial(context.Background(), "ws://"+strings.TrimPrefix(addr, "tcp://")+"/mqtt", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 5 {
		if _, err := c.Read(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
			t.Fatalf("Read before the packet is whole: %v, want ErrTimeout", err)
		}
		step <- struct{}{}
	}
	p, err := c.Read(2 * time.Second)
	if err != nil || p.Type != PINGRESP {
		t.Fatalf("after the timeouts: %v, %v; want PINGRESP", p, err)
	}
	step <- struct{}{}
	if _, err := c.Read(200 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a ping is no packet: %v, want ErrTimeout", err)
	}
	step <- struct{}{}
}
