package wire

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// serve runs handle for one accepted connection and returns the address.
func serve(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		handle(c)
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "tcp://" + ln.Addr().String()
}

// TestExpectClosedTellsACloseFromATimeout covers the helper every refusal
// test relies on.
func TestExpectClosedTellsACloseFromATimeout(t *testing.T) {
	closing := serve(t, func(c net.Conn) {
		c.Write([]byte{0xE0, 0x00}) // DISCONNECT, then close
		c.Close()
	})
	c, err := Dial(context.Background(), closing, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, seen := c.ExpectClosed(2 * time.Second)
	if out != Closed || len(seen) != 1 || seen[0].Type != DISCONNECT {
		t.Errorf("closing server: %v %v, want Closed after a DISCONNECT", out, seen)
	}

	release := make(chan struct{})
	silent := serve(t, func(c net.Conn) { <-release; c.Close() })
	defer close(release)
	c2, err := Dial(context.Background(), silent, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start := time.Now()
	if out, _ := c2.ExpectClosed(200 * time.Millisecond); out != TimedOut {
		t.Errorf("silent server: %v, want TimedOut", out)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ExpectClosed took %v for a 200 ms timeout", d)
	}
	if _, err := c2.Read(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Read on a silent server: %v, want ErrTimeout", err)
	}
}

// TestAddrAcceptsBrokerURLs checks the address forms the flags take.
func TestAddrAcceptsBrokerURLs(t *testing.T) {
	for in, want := range map[string]string{"tcp://127.0.0.1:1883": "127.0.0.1:1883", "mqtt://h:1": "h:1", "localhost:9": "localhost:9"} {
		if got, err := Addr(in); err != nil || got != want {
			t.Errorf("Addr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ws://h:1/mqtt", "nohost"} {
		if _, err := Addr(bad); err == nil {
			t.Errorf("Addr(%q) accepted", bad)
		}
	}
}
