package broker

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestInlineWriteRemainderGoesFirst: when the socket takes only part of an
// inline write and another publisher appended to the connection while it
// was being made, what the socket did not take is written before what was
// appended. Deterministic: the write is replaced by one that takes half and
// appends in the middle, as a concurrent publisher would.
func TestInlineWriteRemainderGoesFirst(t *testing.T) {
	b, err := New(Options{Log: zerolog.Nop(), AllowAnonymous: true, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(b, server, "test")
	defer c.conn.Close()

	first, second := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 1000)
	writeNonBlocking = func(raw syscall.RawConn, buf []byte) int {
		n := writeOnce(raw, buf[:len(buf)/2])
		if c.begin() { // another publisher, while the first write is under way
			c.out = append(c.out, second...)
		}
		c.end()
		return n
	}
	defer func() { writeNonBlocking = writeOnce }()

	var fb flushBatch
	fb.n = 1
	if !c.begin() {
		t.Fatal("connection closed")
	}
	c.out = append(c.out, first...)
	c.endIn(&fb) // the batch holds the flushing token
	fb.flush()

	got := make([]byte, len(first)+len(second))
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if want := append(append([]byte{}, first...), second...); !bytes.Equal(got, want) {
		t.Fatalf("bytes out of order: got %q", got)
	}
	c.closeWrites(time.Second, false) // waits for the flusher the remainder started
}
