package broker

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// poller waits, on one goroutine, for any parked connection's socket to turn
// readable. Sockets are armed one-shot and level-triggered, so bytes that
// arrived between the reader's last read and arm are reported at once.
type poller struct {
	epfd int
	// file and raw are epfd as the runtime's network poller knows it
	// (park_wait_linux.go); nil where it cannot poll it.
	file *os.File
	raw  syscall.RawConn
	w    pollWait // loop's
	wake [2]int   // a pipe whose read end stops the loop
	mu   sync.Mutex
	// conns are the broker's connections; an event names its connection
	// by slot and handle (connTable.tag), never by its socket number: a
	// closed socket's number is soon another connection's, and a stale
	// event must not be able to wake the wrong one.
	conns *connTable
	// keep holds the parked connections' keep-alive deadlines, in seconds
	// since epoch; loop expires them (park_wheel.go).
	keep  keepWheel
	epoch time.Time
	// detach are parked connections that kept or got back their net.Conn
	// (a flusher was writing); loop detaches them on its next tick
	// (park_detach.go). Their redetach flag says they are here.
	detach []*client
	// pingBuf is what answerPings reads into (park_ping_linux.go); loop's.
	pingBuf [2*maxPolledPings + 1]byte
}

// wakeToken is the poller's own pipe in event data; a connection's tag has
// a slot number from 1.
const wakeToken = 0

// eventData packs a tag into the epoll event's 64 bits of user data.
func eventData(ev *syscall.EpollEvent, tag uint64) {
	ev.Fd, ev.Pad = int32(uint32(tag)), int32(uint32(tag>>32))
}

func eventTag(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func newPoller(conns *connTable) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, conns: conns, epoch: time.Now()}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	eventData(&ev, wakeToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.close()
		return nil, err
	}
	p.pollFile()
	return p, nil
}

// prepare tells whether c's socket must be added to the set (else
// re-armed) and notes how it is armed; wmu held. Called before c is marked
// parked, so that whatever goroutine the wake-up starts sees these writes.
// c is in the broker's connTable already (track), where the poller finds it.
func (p *poller) prepare(c *client, mode armMode) (add bool) {
	add = c.armed == armNone
	c.armed = mode
	return add
}

// arm adds or re-arms c's socket fd, one-shot, or level-triggered for a
// connection served inline (inline_linux.go), which the poller re-parks
// without a call per message: from here on, c may be woken.
func (p *poller) arm(c *client, fd int32, add, level bool) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	if level {
		ev.Events &^= syscall.EPOLLONESHOT
	}
	eventData(&ev, p.conns.tag(c))
	op := syscall.EPOLL_CTL_MOD
	if add {
		op = syscall.EPOLL_CTL_ADD
	}
	return epollCtl(p.epfd, op, int(fd), &ev)
}

// disarm takes socket fd out of the set. It must run before fd is closed
// (detaching, attaching, client.finish): the kernel knows the socket by its
// number, after the close that number is someone else's, and while another
// descriptor holds the socket open epoll keeps reporting the closed one.
func (p *poller) disarm(fd int) {
	_ = epollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// dupSocket duplicates a socket's descriptor, close-on-exec, for a parked
// connection to keep when its net.Conn goes (park_detach.go).
func dupSocket(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// schedule makes the poller expire c's keep-alive at deadline (on the
// second after it).
func (p *poller) schedule(c *client, deadline time.Time) {
	due := uint32((deadline.Sub(p.epoch) + time.Second - 1) / time.Second)
	p.mu.Lock()
	p.keep.add(c, due)
	p.mu.Unlock()
}

// unschedule forgets c's keep-alive deadline, if it has one.
func (p *poller) unschedule(c *client) {
	p.mu.Lock()
	p.keep.remove(c)
	p.mu.Unlock()
}

// nextTick is how long epoll may wait: until the next second. Not for ever
// when no keep-alive is scheduled: schedule does not wake a poller already
// waiting, so the first connection parked into an empty wheel would wait for
// some other socket's event before its keep-alive could expire (seen: a
// parked client with keep-alive 1 s not closed after 10 s). A wake-up a
// second costs an idle broker nothing it would notice.
func (p *poller) nextTick() (ms int) {
	since := time.Since(p.epoch)
	return int((time.Second - since%time.Second + time.Millisecond - 1) / time.Millisecond)
}

// expireKeepAlives wakes the connections whose keep-alive ran out. They are
// woken outside the lock: unpark takes it to unschedule.
func (p *poller) expireKeepAlives(buf []*client) []*client {
	now := uint32(time.Since(p.epoch) / time.Second)
	p.mu.Lock()
	due := p.keep.expire(now, buf[:0])
	p.mu.Unlock()
	for i, c := range due {
		c.keepAliveExpired()
		due[i] = nil
	}
	return due
}

// queueDetach has loop detach c on its next tick; once however often it is
// asked. A connection that goes on receiving stays attached at most a tick
// or two between rebuilds, instead of one per message.
func (p *poller) queueDetach(c *client) {
	p.mu.Lock()
	if !c.redetach {
		c.redetach = true
		p.detach = append(p.detach, c)
	}
	p.mu.Unlock()
}

// redetachQueued detaches the connections queueDetach named, into spare;
// those still being written to wait for the next tick.
func (p *poller) redetachQueued(spare []*client) []*client {
	p.mu.Lock()
	due := p.detach
	p.detach = spare[:0]
	for _, c := range due {
		c.redetach = false
	}
	p.mu.Unlock()
	for i, c := range due {
		if c.redetachParked(p) {
			p.queueDetach(c)
		}
		due[i] = nil
	}
	return due
}

// loop wakes parked connections until stop is called.
func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	var expired, detached []*client
	var lastTick uint32
	gs := runtime.NumGoroutine()
	for {
		// Waiting blocking in epoll_wait (the runtime cannot poll the
		// epoll descriptor: park_wait_linux.go), let the goroutines this
		// loop just started run first (a woken connection, a hand-off, a
		// flusher for what an inline service wrote): they sit in this P's
		// run queue, and a P blocked in a system call gives them up only
		// when sysmon retakes it, up to 10 ms later. Waiting in the
		// runtime's poller, the loop's goroutine parks and they run.
		if p.raw == nil && runtime.NumGoroutine() > gs {
			runtime.Gosched()
		}
		n, err := p.wait(events) // until the next second's tick (park_wait_linux.go)
		gs = runtime.NumGoroutine()
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		expired = p.expireKeepAlives(expired)
		if now := uint32(time.Since(p.epoch) / time.Second); now != lastTick {
			// Once a tick, not on every event: a connection that goes on
			// receiving is rebuilt at most about once a second.
			lastTick = now
			detached = p.redetachQueued(detached)
		}
		for i := range events[:n] {
			h := eventTag(&events[i])
			if h == wakeToken {
				return
			}
			if c := p.conns.lookup(h); c != nil {
				p.readable(c, events[i].Events) // inline, a PINGREQ answered, or c woken (park_ping_linux.go)
			}
		}
	}
}

// stop ends loop; close releases the descriptors once loop has returned.
func (p *poller) stop() { _, _ = syscall.Write(p.wake[1], []byte{1}) }

func (p *poller) close() {
	if p.file != nil {
		p.file.Close() // it owns epfd
	} else {
		syscall.Close(p.epfd)
	}
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}
