package broker_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// A parked plain-TCP connection keeps only its socket number and gets a
// net.Conn back when it is read or written (docs/decisions/0041). These
// tests race every path that touches the connection against the detach and
// the rebuild, on real sockets; run them under -race.

// detachingBroker parks a connection 1 ms after its last byte: as often as
// the tests can make it.
func detachingBroker(t *testing.T) *testBroker {
	// With a store, as the suite's default: these tests are about the
	// write-attach of parked connections, which a broker without one
	// serves inline instead (inline_linux_test.go), also under PLUME_TEST_NO_STORE.
	return startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: time.Millisecond, Store: session.NewMemoryStore()})
}

// detachWithin is how long a test waits for a connection to be detached: a
// connection that parked while its CONNACK was being written is detached
// by the poller's one-second tick, which may come late on a loaded machine.
const detachWithin = 15 * time.Second

// awaitDetached waits until cond, which tells about detached connections, holds.
func awaitDetached(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(detachWithin)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxiedConn reports another peer than the socket's, as a PROXY protocol
// conn does, and hands the broker its socket.
type proxiedConn struct{ net.Conn }

var proxiedPeer = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 4242}

func (c proxiedConn) RemoteAddr() net.Addr { return proxiedPeer }
func (c proxiedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

type proxiedListener struct{ net.Listener }

func (l proxiedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return proxiedConn{c}, nil
}

// A parked connection lets its net.Conn go, wakes on data with a rebuilt
// one, and the broker goes on reporting the peer it was accepted with (not
// the rebuilt socket's, which here would be 127.0.0.1).
func TestDetachedConnectionWakesAndKeepsItsRemoteAddress(t *testing.T) {
	b, err := broker.New(broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(proxiedListener{l}, "proxied") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	c, _ := connectRaw(t, l.Addr().String(), v5Connect("detached-pinger"))
	for range 3 {
		awaitDetached(t, "the connection detached", func() bool { return b.DetachedCount() == 1 })
		c.send(&packets.Pingreq{})
		if p := c.next(); p.Type() != packets.TypePingresp {
			t.Fatalf("got %T, want PINGRESP", p)
		}
		page := b.Clients(broker.ClientQuery{})
		if len(page.Clients) != 1 || page.Clients[0].Remote != proxiedPeer.String() || page.Clients[0].Listener != "proxied" {
			t.Fatalf("after a rebuild the broker reports %+v, want remote %s on listener proxied", page.Clients, proxiedPeer)
		}
	}
}

// Deliveries race the subscriber's detach: the subscriber acknowledges each
// message, which wakes it, and parks 1 ms later, while the next message
// comes after a random 0–2 ms. Every message arrives, in order, once.
func TestDeliveryRacingTheDetachArrivesWhole(t *testing.T) {
	tb := detachingBroker(t)
	s, _ := connectRaw(t, tb.addr, v5Connect("race-sub"))
	s.subscribe(1, sub("race/t", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("race-pub"))
	before := broker.WriteAttaches()
	for i := range 300 {
		id := uint16(i + 1)
		p.publish(&packets.Publish{Topic: "race/t", QoS: 1, PacketID: id, Payload: []byte{byte(i), byte(i >> 8)}})
		p.expectAck(packets.TypePuback, id)
		m := s.nextPublish()
		if len(m.Payload) != 2 || int(m.Payload[0])|int(m.Payload[1])<<8 != i {
			t.Fatalf("message %d: got payload % x", i, m.Payload)
		}
		s.ack(packets.TypePuback, m.PacketID)
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // jitter: lands before, during or after the park
	}
	if broker.WriteAttaches() == before {
		t.Fatal("no delivery met a detached subscriber: the race was not exercised")
	}
}

// A parked subscriber that only receives is rebuilt for its first message
// and detached again right after; one that goes on receiving keeps its
// net.Conn until the poller's tick detaches it. Either way it ends
// detached, and nothing is lost.
func TestReceivingSubscriberIsDetachedAgain(t *testing.T) {
	tb := detachingBroker(t)
	s, _ := connectRaw(t, tb.addr, v5Connect("recv-sub"))
	s.subscribe(1, sub("recv/t", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("recv-pub"))
	awaitDetached(t, "the subscriber detached", func() bool { return tb.IsDetached("recv-sub") })
	before := broker.WriteAttaches()
	for i := range 5 {
		p.publish(&packets.Publish{Topic: "recv/t", Payload: []byte{byte(i)}})
		if m := s.nextPublish(); len(m.Payload) != 1 || m.Payload[0] != byte(i) {
			t.Fatalf("message %d: got % x", i, m.Payload)
		}
		if i == 0 { // the first message's flusher detaches it: the next needs a rebuild
			awaitDetached(t, "the subscriber detached after its first message", func() bool { return tb.IsDetached("recv-sub") })
		}
	}
	if n := broker.WriteAttaches() - before; n < 2 {
		t.Fatalf("%d rebuilds for a writer, want at least 2: the first message's, and one after it was detached again", n)
	}
	awaitDetached(t, "the subscriber detached again", func() bool { return tb.IsDetached("recv-sub") })
}

// A takeover kicks a detached connection while its own data wakes it: the
// old connection ends with 0x8E (perhaps after its PINGRESP), the new one is
// connected, every round.
func TestTakeoverRacingTheWakeUp(t *testing.T) {
	tb := detachingBroker(t)
	cp := persistent("race-twin", 60)
	old, _ := connectRaw(t, tb.addr, cp)
	for i := range 40 {
		awaitDetached(t, "the connection detached", func() bool { return tb.DetachedCount() == 1 })
		ping := (&packets.Pingreq{}).Append(nil, packets.V5)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the wake-up, concurrent with the takeover below
			defer wg.Done()
			if i%2 == 1 {
				time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
			}
			_, _ = old.conn.Write(ping)
		}()
		cp := persistent("race-twin", 60)
		cp.CleanStart = false
		nu, _ := connectRaw(t, tb.addr, cp)
		wg.Wait()
		for {
			p := old.next()
			if p.Type() == packets.TypePingresp {
				continue
			}
			if d, ok := p.(*packets.Disconnect); !ok || d.Reason != packets.SessionTakenOver {
				t.Fatalf("round %d: got %T %+v, want DISCONNECT 0x8E", i, p, p)
			}
			break
		}
		old.expectClosed()
		old = nu
	}
	old.send(&packets.Pingreq{})
	if p := old.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("the last connection answered %T, want PINGRESP", p)
	}
}

// A detached connection whose keep-alive runs out is woken by the poller's
// wheel, rebuilt, and told 0x8D [MQTT-3.1.2-22].
func TestDetachedConnectionKeepAliveExpiresWith0x8D(t *testing.T) {
	tb := detachingBroker(t)
	cp := v5Connect("detached-silent")
	cp.KeepAlive = 4 // expires after the detach, which may take the poller's tick
	c, _ := connectRaw(t, tb.addr, cp)
	awaitDetached(t, "the connection detached", func() bool { return tb.DetachedCount() == 1 })
	p, err := c.read(4*time.Second + detachWithin) // 1.5 x keep-alive, and then some
	if d, ok := p.(*packets.Disconnect); err != nil || !ok || d.Reason != packets.KeepAliveTimeout {
		t.Fatalf("got %T %+v, %v; want DISCONNECT 0x8D", p, p, err)
	}
	c.expectClosed()
}

// A closed parked connection's socket number, taken by another parked
// connection, must never wake it or be written to on the old one's behalf:
// the poller knows connections by handle, not by number. The reuse is
// arranged, not hoped for: a connection that wakes and parks again
// detaches onto a new duplicate, which takes the lowest free number; with
// every number below the closed one filled and every other connection
// parked, that is the closed one (left to chance, the test process's own
// sockets or another connection's duplicate took it first).
func TestReusedSocketNumberIsNeverWokenNorWrittenTo(t *testing.T) {
	tb := detachingBroker(t)
	var mu sync.Mutex
	woken := map[string]int{}
	defer broker.SetResumeSeam(func(id string) { mu.Lock(); woken[id]++; mu.Unlock() })()
	p, _ := connectRaw(t, tb.addr, v5Connect("reuse-pub"))
	b, _ := connectRaw(t, tb.addr, v5Connect("reuse-b"))
	awaitDetached(t, "the newcomer detached", func() bool { return tb.IsDetached("reuse-b") })
	for i := range 3 {
		a, _ := connectRaw(t, tb.addr, v5Connect("reuse-a"))
		a.subscribe(1, sub("reuse/a", 0))
		awaitDetached(t, "the subscriber detached", func() bool { return tb.IsDetached("reuse-a") })
		first := tb.ClientSocket("reuse-a")
		p.publish(&packets.Publish{Topic: "reuse/a", Payload: []byte("to a")})
		if m := a.nextPublish(); string(m.Payload) != "to a" {
			t.Fatalf("the detached subscriber got %q", m.Payload)
		}
		// The delivery attached a; it detaches again onto a new duplicate.
		awaitDetached(t, "the subscriber detached again", func() bool {
			return tb.IsDetached("reuse-a") && tb.ClientSocket("reuse-a") != first
		})
		number := tb.ClientSocket("reuse-a")
		// So does the publisher; then nothing but b moves to a new number.
		awaitDetached(t, "the publisher detached", func() bool { return tb.IsDetached("reuse-pub") })

		fillers := fillSocketNumbersBelow(t, number)
		a.disconnect(packets.NormalDisconnection)
		eventually(t, "the subscriber gone", func() bool { return tb.ClientSocket("reuse-a") == -1 })
		// b wakes for its PINGREQ and parks again, onto the freed number. The
		// PINGREQ follows an acknowledgement (of an id the broker does not
		// know, which it ignores): a PINGREQ alone the poller answers
		// without waking b (park_ping_linux.go), and b keeps its number.
		before := tb.ClientSocket("reuse-b")
		b.write((&packets.Pingreq{}).Append((&packets.Ack{Kind: packets.TypePuback, PacketID: 7}).Append(nil, packets.V5), packets.V5))
		if got := b.next(); got.Type() != packets.TypePingresp {
			t.Fatalf("round %d: answer to PINGREQ: %v", i, got.Type())
		}
		awaitDetached(t, "the newcomer detached again", func() bool {
			return tb.IsDetached("reuse-b") && tb.ClientSocket("reuse-b") != before
		})
		closeAll(fillers)
		if got := tb.ClientSocket("reuse-b"); got != number {
			t.Fatalf("round %d: the newcomer parked on socket %d, not on the closed subscriber's %d: the reuse was not arranged", i, got, number)
		}
		mu.Lock()
		wokenBefore := woken["reuse-b"]
		mu.Unlock()
		// At QoS 1, so that it is routed before the PUBACK: at QoS 0 a late
		// one reached the next round's subscriber instead of its "to a".
		id := uint16(i + 1)
		p.publish(&packets.Publish{Topic: "reuse/a", QoS: 1, PacketID: id, Payload: []byte("to nobody")})
		p.expectAck(packets.TypePuback, id)
		b.expectNothing(30 * time.Millisecond)
		mu.Lock()
		wokenAfter := woken["reuse-b"]
		mu.Unlock()
		if wokenAfter != wokenBefore {
			t.Fatalf("round %d: the connection on a reused socket number was woken", i)
		}
		_ = a.conn.Close()
	}
}

// fillSocketNumbersBelow opens descriptors until the process has no free
// number below n, and returns them for closeAll.
func fillSocketNumbersBelow(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			t.Fatal(err)
		}
		fds = append(fds, fd)
		if fd > n {
			return fds
		}
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// Shutting down with thousands of detached connections rebuilds each, sends
// each 0x8B and returns.
func TestShutdownWithThousandsOfDetachedConnections(t *testing.T) {
	const n = 2000
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond})
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for i := range n {
		fd, err := rawConnectV5(tb.addr, i)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		fds = append(fds, fd)
	}
	awaitDetached(t, "every connection detached", func() bool { return tb.DetachedCount() == n })
	tb.shutdown(t)
	for i, fd := range fds {
		var b [16]byte
		m, err := readSocket(fd, b[:])
		// 5.0 DISCONNECT 0x8B: E0, its length, the reason.
		if err != nil || m < 3 || b[0] != 0xE0 || b[2] != byte(packets.ServerShuttingDown) {
			t.Fatalf("connection %d: read % x, %v; want DISCONNECT 0x8B", i, b[:max(m, 0)], err)
		}
	}
}

// rawConnectV5 is rawConnect (idlemem_linux_test.go) for a 5.0 client: a
// bare socket, so that thousands cost the test process little.
func rawConnectV5(addr string, i int) (int, error) {
	sa, err := sockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.Timeval{Sec: int64(wait / time.Second * 5)}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	cp := v5Connect(fmt.Sprintf("detached-%05d", i))
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if _, err := syscall.Write(fd, cp.Append(nil, packets.V5)); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	var ack [64]byte
	m, err := readSocket(fd, ack[:])
	if err != nil || m < 4 || ack[0] != 0x20 || ack[3] != 0 {
		syscall.Close(fd)
		return -1, &net.OpError{Op: "connack", Err: err}
	}
	return fd, nil
}

// The will of a detached connection whose peer vanishes is published: the
// poller sees the hang-up, the connection is rebuilt, reads EOF and ends as
// any other [MQTT-3.1.2-8].
func TestWillOfDetachedConnectionIsPublished(t *testing.T) {
	tb := detachingBroker(t)
	s, _ := connectRaw(t, tb.addr, v5Connect("will-watcher"))
	s.subscribe(1, sub("will/detached", 0))
	cp := v5Connect("will-holder")
	cp.Will = &packets.Will{Topic: "will/detached", Payload: []byte("gone")}
	w, _ := connectRaw(t, tb.addr, cp)
	awaitDetached(t, "the will holder detached", func() bool { return tb.IsDetached("will-holder") })
	_ = w.conn.Close()
	if m := s.nextPublish(); m.Topic != "will/detached" || string(m.Payload) != "gone" {
		t.Fatalf("got %s %q, want the will", m.Topic, m.Payload)
	}
}

// A TLS connection never parks, so it never detaches: its decrypted bytes
// may wait in the TLS layer with nothing readable on the socket
// (docs/decisions/0020). A plain connection that came later, on the same
// broker, has parked and detached meanwhile; the TLS one still answers.
// (WebSocket conns expose no socket either: transport's
// TestWSConnsAreNeverParked.)
func TestTLSConnectionKeepsItsConnAndNeverParks(t *testing.T) {
	cert, leaf := selfSigned(t)
	tb := detachingBroker(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tb.Serve(tls.NewListener(tl, &tls.Config{Certificates: []tls.Certificate{cert}}), "tls") }()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	conn, err := tls.Dial("tcp", tl.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tc := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), v: packets.V5}
	if ack := tc.connect(v5Connect("tls-idle")); ack.Reason != packets.Success {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
	connectRaw(t, tb.addr, v5Connect("plain-idle"))
	awaitDetached(t, "the plain connection detached", func() bool { return tb.IsDetached("plain-idle") })
	if n := tb.ParkedCount(); n != 1 {
		t.Fatalf("%d connections parked, want only the plain one", n)
	}
	tc.send(&packets.Pingreq{})
	if p := tc.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T, want PINGRESP", p)
	}
}

// selfSigned is a certificate for 127.0.0.1 that signs itself (core's tests
// may not use internal/testcerts).
func selfSigned(t *testing.T) (tls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}
