package broker_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// BenchmarkIdleConnectionMemory measures what one parked MQTT-over-TCP
// connection costs the broker's process (docs/decisions/0037): N clients
// CONNECT (3.1.1, clean session, keep-alive 60 s, as the bench's idle
// scenario does) and stay silent until every connection is parked. The
// clients are raw sockets (an int each, no net.Conn, no pollDesc), so nearly
// all that the process gains is the broker's; the accept-only run measures
// the clients' own share against a listener that merely accepts and keeps
// each descriptor as an int, and is subtracted in the decision record.
//
//	go test -run '^$' -bench IdleConnectionMemory -benchtime 1x ./core/broker/
//
// IDLEMEM_CONNS sets N (default 5,000). IDLEMEM_PROFILE=prefix writes
// prefix.base.pprof and prefix.held.pprof (every allocation sampled) for
//
//	go tool pprof -sample_index=inuse_space -base prefix.base.pprof core/broker/broker.test prefix.held.pprof
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := 5000
	if s := os.Getenv("IDLEMEM_CONNS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("IDLEMEM_CONNS: %v", err)
		}
		n = v
	}
	profile := os.Getenv("IDLEMEM_PROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	b.Run("accept-only", func(b *testing.B) {
		addr, stop := rawAcceptor(b)
		defer stop()
		measureIdle(b, addr, n, "", func() bool { return true })
	})
	b.Run("accept-netconn", func(b *testing.B) {
		// What the broker's side of a socket costs as a net.Conn (netFD,
		// addresses, the runtime's pollDesc), for the breakdown.
		addr, stop := netConnAcceptor(b)
		defer stop()
		measureIdle(b, addr, n, "", func() bool { return true })
	})
	b.Run("broker", func(b *testing.B) {
		tb := benchBroker(b, broker.Options{AllowAnonymous: true, ParkIdleAfter: 50 * time.Millisecond, SysInterval: -1})
		// A first round warms the pools and the tables, as the bench's warm run does.
		measureIdle(b, tb.addr, n/4, "", func() bool { return tb.ParkedCount() == tb.ClientCount() })
		waitFor(b, func() bool { return tb.ClientCount() == 0 })
		measureIdle(b, tb.addr, n, profile, func() bool { return tb.ParkedCount() == n })
	})
}

// measureIdle opens n connections to addr, waits until settled, and reports
// the process's heap, stack and RSS growth per connection.
func measureIdle(b *testing.B, addr string, n int, profile string, settled func() bool) {
	heap0, stack0, rss0 := processMemory()
	writeHeapProfile(b, profile, "base")
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for i := range n {
		fd, err := rawConnect(addr, fmt.Sprintf("idle-%06d", i))
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		fds = append(fds, fd)
	}
	waitFor(b, settled)
	heap1, stack1, rss1 := processMemory()
	writeHeapProfile(b, profile, "held")
	per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / float64(n) }
	b.ReportMetric(per(heap0, heap1), "heap-B/conn")
	b.ReportMetric(per(stack0, stack1), "stack-B/conn")
	b.ReportMetric(per(rss0, rss1), "rss-B/conn")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

// processMemory is the live heap, the goroutine stacks and the resident set,
// after a collection has returned what it freed to the system.
func processMemory() (heap, stack, rss uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	statm, err := os.ReadFile("/proc/self/statm")
	if err == nil {
		if f := strings.Fields(string(statm)); len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			rss = pages * uint64(os.Getpagesize())
		}
	}
	return ms.HeapInuse, ms.StackInuse, rss
}

func writeHeapProfile(b *testing.B, prefix, name string) {
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "." + name + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// rawConnect connects a bare socket, sends CONNECT and reads CONNACK. The
// socket stays a number: no net.Conn, nothing in Go's netpoller.
func rawConnect(addr, id string) (int, error) {
	sa, err := sockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	tv := syscall.Timeval{Sec: 10}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V311, CleanStart: true, KeepAlive: 60, ClientID: id}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	if _, err := syscall.Write(fd, cp.Append(nil, packets.V311)); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("write: %w", err)
	}
	var ack [4]byte
	if m, err := readSocket(fd, ack[:]); err != nil || m != 4 || ack[0] != 0x20 || ack[3] != 0 {
		syscall.Close(fd)
		return -1, fmt.Errorf("CONNACK: %d bytes % x, %v", m, ack[:max(m, 0)], err)
	}
	return fd, nil
}

// readSocket is a blocking read of a bare socket that goes on after a
// signal: with SO_RCVTIMEO set, the kernel does not restart a read that a
// signal interrupted (the Go runtime's preemption signals, under the race
// detector often), and it fails with EINTR.
func readSocket(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// rawAcceptor listens on loopback and keeps each accepted socket as a number.
func rawAcceptor(b *testing.B) (addr string, stop func()) {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		b.Fatal(err)
	}
	sa, err := syscall.Getsockname(lfd)
	if err != nil {
		b.Fatal(err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	done := make(chan []int)
	go func() {
		var fds []int
		connack := []byte{0x20, 2, 0, 0}
		for {
			fd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
			if err != nil {
				done <- fds
				return
			}
			var buf [256]byte
			_, _ = syscall.Read(fd, buf[:]) // the CONNECT, in one segment on loopback
			_, _ = syscall.Write(fd, connack)
			fds = append(fds, fd)
		}
	}()
	return addr, func() {
		syscall.Shutdown(lfd, syscall.SHUT_RDWR) // ends the blocked accept
		syscall.Close(lfd)
		for _, fd := range <-done {
			syscall.Close(fd)
		}
	}
}

// netConnAcceptor is rawAcceptor with Go's net.Listener: each accepted
// socket is held as a net.Conn.
func netConnAcceptor(b *testing.B) (addr string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan []net.Conn)
	go func() {
		var conns []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				done <- conns
				return
			}
			var buf [256]byte
			_, _ = c.Read(buf[:])
			_, _ = c.Write([]byte{0x20, 2, 0, 0})
			conns = append(conns, c)
		}
	}()
	return l.Addr().String(), func() {
		l.Close()
		for _, c := range <-done {
			c.Close()
		}
	}
}

func sockaddr(addr string) (*syscall.SockaddrInet4, error) {
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	return &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}, nil
}

// benchBroker serves opts on a loopback port until the benchmark ends.
func benchBroker(b *testing.B, opts broker.Options) *testBroker {
	bk, err := broker.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tb := &testBroker{Broker: bk, addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { tb.done <- bk.Serve(l, "bench") }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bk.Shutdown(ctx); err != nil {
			b.Error(err)
		}
		<-tb.done
	})
	return tb
}

func waitFor(b *testing.B, cond func() bool) {
	b.Helper()
	end := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			b.Fatal("condition not reached within 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
