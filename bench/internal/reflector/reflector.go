//go:build linux

// Package reflector is the floor the ping-pong scenarios are judged against:
// the least an MQTT peer can do to answer the load generator, in one thread
// on one epoll loop, as a single-threaded C broker does it, with no broker in
// it — no sessions, no queues, no authorization, no wildcards, no plugins.
// It answers CONNECT and SUBSCRIBE, echoes each PUBLISH to the connections
// subscribed to exactly its topic, and makes the acknowledgements each QoS
// needs (PUBACK; PUBREC, PUBREL, PUBCOMP). If even this cannot reach a round
// trip rate, no broker on the same machine can (decision 0040).
//
// It speaks just enough MQTT 3.1.1 for bench/loadgen's ping-pong and is not
// a broker: a malformed packet closes the connection, a topic filter is
// matched byte for byte, nothing is retained or queued for a connection that
// has gone.
package reflector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"github.com/plumemq/plume/bench/internal/wire"
)

// Reflector is one epoll loop serving one listening socket.
type Reflector struct {
	lfd, epfd int
	wake      [2]int // a pipe: a byte written to wake[1] stops Serve
	conns     map[int]*peer
	subs      map[string][]*peer // exact topic -> subscribed connections
	dirty     []*peer            // connections with bytes to write after this event
	rbuf      []byte
}

// peer is one client connection: what it sent that is not yet a whole
// packet, what we owe it, and what it subscribed to.
type peer struct {
	fd      int
	in, out []byte
	pid     uint16 // our packet ids for deliveries at QoS 1 and 2
	subs    map[string]byte
	dirty   bool
	closed  bool
	waiting bool // registered for EPOLLOUT: the socket did not take all of out
}

// Listen opens a reflector on addr ("127.0.0.1:0" for any free port) and
// returns it with the address it listens on.
func Listen(addr string) (*Reflector, string, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, "", fmt.Errorf("reflector: %w", err)
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("reflector: socket: %w", err)
	}
	r := &Reflector{lfd: lfd, epfd: -1, wake: [2]int{-1, -1}, conns: map[int]*peer{}, subs: map[string][]*peer{}, rbuf: make([]byte, 64<<10)}
	fail := func(what string, err error) (*Reflector, string, error) {
		r.Close()
		return nil, "", fmt.Errorf("reflector: %s: %w", what, err)
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(lfd, sa); err != nil {
		return fail("bind", err)
	}
	if err := syscall.Listen(lfd, 1024); err != nil {
		return fail("listen", err)
	}
	got, err := syscall.Getsockname(lfd)
	if err != nil {
		return fail("getsockname", err)
	}
	g := got.(*syscall.SockaddrInet4)
	if r.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fail("epoll_create1", err)
	}
	if err := syscall.Pipe2(r.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return fail("pipe2", err)
	}
	for _, fd := range []int{lfd, r.wake[0]} {
		if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fail("epoll_ctl", err)
		}
	}
	return r, fmt.Sprintf("%s:%d", net.IP(g.Addr[:]), g.Port), nil
}

// Stop makes Serve return; it may be called from any goroutine.
func (r *Reflector) Stop() { _, _ = syscall.Write(r.wake[1], []byte{1}) }

// Close releases the listening socket, the epoll instance and every
// connection; call it after Serve has returned.
func (r *Reflector) Close() {
	for fd := range r.conns {
		_ = syscall.Close(fd)
	}
	for _, fd := range []int{r.lfd, r.epfd, r.wake[0], r.wake[1]} {
		if fd >= 0 {
			_ = syscall.Close(fd)
		}
	}
}

// Serve runs the loop on the calling goroutine, locked to its thread, until
// Stop. Every ready connection is read to EAGAIN, each whole packet answered,
// and what it owed any connection written before the next is read: one write
// per connection per event, the least a peer can do without batching across
// clients (which would add latency, not remove it).
func (r *Reflector) Serve() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(r.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reflector: epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			switch fd := int(ev.Fd); fd {
			case r.wake[0]:
				return nil
			case r.lfd:
				r.accept()
			default:
				p := r.conns[fd]
				if p == nil {
					continue
				}
				if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					r.readFrom(p)
				}
				if ev.Events&syscall.EPOLLOUT != 0 && !p.closed {
					r.markDirty(p)
				}
				r.flush()
			}
		}
	}
}

func (r *Reflector) accept() {
	for {
		fd, _, err := syscall.Accept4(r.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or a connection gone before it was accepted
		}
		// As Go and Mosquitto (set_tcp_nodelay true) do: no Nagle delay.
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			_ = syscall.Close(fd)
			continue
		}
		r.conns[fd] = &peer{fd: fd}
	}
}

// readFrom reads p until EAGAIN and answers every whole packet.
func (r *Reflector) readFrom(p *peer) {
	for !p.closed {
		n, err := syscall.Read(p.fd, r.rbuf)
		if errors.Is(err, syscall.EAGAIN) {
			return
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			r.drop(p)
			return
		}
		p.in = append(p.in, r.rbuf[:n]...)
		used, err := r.handle(p, p.in)
		if err != nil {
			r.drop(p)
			return
		}
		p.in = p.in[:copy(p.in, p.in[used:])]
		if n < len(r.rbuf) {
			return // a short read: the socket is drained (level-triggered, so no edge is lost)
		}
	}
}

// handle answers each whole packet in b and returns how many bytes it used.
func (r *Reflector) handle(p *peer, b []byte) (int, error) {
	used := 0
	for {
		h, n, ok, err := split(b[used:])
		if err != nil || !ok {
			return used, err
		}
		used += n
		if err := r.packet(p, h); err != nil {
			return used, err
		}
	}
}

// split finds the first whole packet in b: its header and length, or ok
// false if b holds only part of one.
func split(b []byte) (h wire.Header, n int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	size, mul, i := 0, 1, 1
	for ; ; i++ {
		if i == 5 {
			return h, 0, false, wire.ErrRemainTooLong
		}
		if i >= len(b) {
			return h, 0, false, nil
		}
		size += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			break
		}
		mul *= 128
	}
	end := i + 1 + size
	if len(b) < end {
		return h, 0, false, nil
	}
	return wire.Header{Type: wire.Type(b[0] >> 4), Flags: b[0] & 0x0f, Body: b[i+1 : end]}, end, true, nil
}

// packet answers one packet from p.
func (r *Reflector) packet(p *peer, h wire.Header) error {
	switch h.Type {
	case wire.CONNECT:
		p.out = append(p.out, byte(wire.CONNACK)<<4, 2, 0, 0) // no session kept, accepted
	case wire.SUBSCRIBE:
		if err := r.subscribe(p, h.Body); err != nil {
			return err
		}
	case wire.PUBLISH:
		m, err := wire.ParsePublish(h.Flags, h.Body)
		if err != nil {
			return err
		}
		switch m.QoS {
		case 1:
			p.out = wire.AppendPubAck(p.out, m.PacketID)
		case 2:
			// Delivered at once (the "method B" of MQTT 3.1.1 4.3.3 is
			// the broker's choice; the earliest delivery is the floor).
			p.out = wire.AppendPubRec(p.out, m.PacketID)
		}
		for _, s := range r.subs[string(m.Topic)] {
			q := min(m.QoS, s.subs[string(m.Topic)])
			var id uint16
			if q > 0 {
				s.pid++
				if s.pid == 0 {
					s.pid = 1
				}
				id = s.pid
			}
			s.out = wire.AppendPublish(s.out, string(m.Topic), q, false, id, m.Payload)
			r.markDirty(s)
		}
	case wire.PUBREC: // the subscriber's answer to our QoS 2 delivery
		if len(h.Body) < 2 {
			return wire.ErrMalformed
		}
		p.out = append(p.out, byte(wire.PUBREL)<<4|2, 2, h.Body[0], h.Body[1])
	case wire.PUBREL: // the publisher's release of its QoS 2 message
		if len(h.Body) < 2 {
			return wire.ErrMalformed
		}
		p.out = append(p.out, byte(wire.PUBCOMP)<<4, 2, h.Body[0], h.Body[1])
	case wire.PINGREQ:
		p.out = append(p.out, byte(wire.PINGRESP)<<4, 0)
	case wire.DISCONNECT:
		return errDisconnect
	case wire.PUBACK, wire.PUBCOMP:
		// the end of our QoS 1 or 2 delivery: nothing kept, nothing to do
	default:
		return fmt.Errorf("packet type %d: %w", h.Type, wire.ErrMalformed)
	}
	r.markDirty(p)
	return nil
}

var errDisconnect = errors.New("DISCONNECT")

// subscribe records each filter of a SUBSCRIBE body and answers SUBACK
// granting the QoS asked for.
func (r *Reflector) subscribe(p *peer, body []byte) error {
	if len(body) < 2 {
		return wire.ErrMalformed
	}
	pid, rest := body[:2], body[2:]
	var granted []byte
	for len(rest) > 0 {
		if len(rest) < 2 {
			return wire.ErrMalformed
		}
		tl := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 3+tl {
			return wire.ErrMalformed
		}
		topic, qos := string(rest[2:2+tl]), rest[2+tl]&3
		rest = rest[3+tl:]
		if p.subs == nil {
			p.subs = map[string]byte{}
		}
		if _, again := p.subs[topic]; !again {
			r.subs[topic] = append(r.subs[topic], p)
		}
		p.subs[topic] = qos
		granted = append(granted, qos)
	}
	p.out = wire.AppendFixedHeader(p.out, wire.SUBACK, 0, 2+len(granted))
	p.out = append(append(p.out, pid...), granted...)
	return nil
}

func (r *Reflector) markDirty(p *peer) {
	if !p.dirty && !p.closed {
		p.dirty = true
		r.dirty = append(r.dirty, p)
	}
}

// flush writes what each dirty connection is owed, in one write each; what
// a full socket does not take waits for EPOLLOUT.
func (r *Reflector) flush() {
	for _, p := range r.dirty {
		p.dirty = false
		if p.closed || len(p.out) == 0 {
			continue
		}
		n, err := syscall.Write(p.fd, p.out)
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			r.drop(p)
			continue
		}
		n = max(n, 0)
		p.out = p.out[:copy(p.out, p.out[n:])]
		// epoll_ctl only when the interest changes: not a system call
		// per message.
		if want := len(p.out) > 0; want != p.waiting {
			p.waiting = want
			ev := uint32(syscall.EPOLLIN)
			if want {
				ev |= syscall.EPOLLOUT
			}
			_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_MOD, p.fd, &syscall.EpollEvent{Events: ev, Fd: int32(p.fd)})
		}
	}
	r.dirty = r.dirty[:0]
}

// drop closes p and forgets its subscriptions.
func (r *Reflector) drop(p *peer) {
	if p.closed {
		return
	}
	p.closed = true
	for topic := range p.subs {
		list := r.subs[topic]
		for i, s := range list {
			if s == p {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(r.subs, topic)
		} else {
			r.subs[topic] = list
		}
	}
	delete(r.conns, p.fd)
	_ = syscall.Close(p.fd)
}
