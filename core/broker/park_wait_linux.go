package broker

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// The poller waits in the runtime's network poller, not in a blocking
// epoll_wait. A blocking system call wakes sysmon from its deep sleep on the
// way in (entersyscall), and sysmon then polls every 20 µs, takes the P
// from the poller's thread after 20 µs and backs off only after a
// millisecond of finding nothing: once per wake-up. With a fleet pinging
// (533 pings a second for 8,000 connections every 15 s) that was about a
// third of the broker's CPU (perf: do_nanosleep under runtime.usleep,
// docs/decisions/0050). An epoll descriptor is itself pollable — readable
// while any of its sockets is ready — so the poller's goroutine parks on it
// as the reader parks on its socket (syscall.RawConn), the runtime's own
// netpoll wakes it, and its epoll_wait, with no timeout, is a raw call. The
// second's tick is the read deadline.

// pollFile wraps the poller's epoll descriptor for the runtime's network
// poller; it reports false (and the poller blocks in epoll_wait as before)
// when the runtime cannot poll it.
func (p *poller) pollFile() bool {
	if err := syscall.SetNonblock(p.epfd, true); err != nil {
		return false
	}
	// The File owns epfd from here on, whatever follows: dropped, its
	// finalizer would close it (poller.close closes it through the File).
	p.file = os.NewFile(uintptr(p.epfd), "epoll")
	raw, err := p.file.SyscallConn()
	if err != nil || p.file.SetReadDeadline(time.Time{}) != nil {
		// Not registered with the runtime's poller (SetReadDeadline says
		// so): wait blocking in epoll_wait.
		return false
	}
	p.raw = raw
	p.w.ready = p.w.poll
	return true
}

// wait returns the events ready now, waiting until one is or the next
// second's tick (n == 0).
func (p *poller) wait(events []syscall.EpollEvent) (int, error) {
	if p.raw == nil {
		return syscall.EpollWait(p.epfd, events, p.nextTick())
	}
	if err := p.file.SetReadDeadline(time.Now().Add(time.Duration(p.nextTick()) * time.Millisecond)); err != nil {
		return 0, err
	}
	p.w.events = events
	err := p.raw.Read(p.w.ready)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil // the tick
	case err != nil:
		return 0, err
	case p.w.errno != 0:
		return 0, p.w.errno
	}
	return p.w.n, nil
}

// pollWait is wait's RawConn callback and its results, bound once
// (pollFile): a closure per wait was an allocation per wake-up.
type pollWait struct {
	events []syscall.EpollEvent
	n      int
	errno  syscall.Errno
	ready  func(fd uintptr) bool
}

// poll takes what is ready without waiting; false (nothing) has the
// runtime wait for the descriptor to turn readable.
func (w *pollWait) poll(fd uintptr) bool {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
	w.n, w.errno = int(r), e
	return e != 0 || w.n > 0
}

// epollCtl is epoll_ctl as a raw call: it never blocks, and through the
// runtime's entersyscall it would wake sysmon as the blocking wait did.
func epollCtl(epfd, op, fd int, ev *syscall.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
