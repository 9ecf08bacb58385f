package broker

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// The check that makes a socket eligible for raw calls (nonBlocking) is
// Linux's (rawio_linux.go); elsewhere the calls go through the runtime.

// TestBlockingSocketIsNotReadRaw: a connection whose socket might block is
// read and written through its own methods, never with a raw system call
// that would hold its P (and stop the world's garbage collection) while it
// sleeps. The net package's sockets are non-blocking and are read raw.
func TestBlockingSocketIsNotReadRaw(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "blocking") // left blocking: not in the runtime's poller
	defer f.Close()
	defer syscall.Close(fds[1])
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rd := newReader(blockingConn{Conn: a, f: f}); rd.raw() != nil {
		t.Error("a blocking socket is read with raw system calls")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rd := newReader(c); rd.raw() == nil {
		t.Error("a TCP connection is not read raw")
	}
}

// blockingConn is a connection whose socket is a blocking descriptor.
type blockingConn struct {
	net.Conn
	f *os.File
}

func (c blockingConn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }
