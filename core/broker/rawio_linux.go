package broker

import "syscall"

// On the per-message path the reader reads its socket and writes what its
// batch owes with raw system calls: without the runtime's entersyscall, the
// first system call after the broker went idle does not wake sysmon from its
// deep sleep. With one message in flight the broker is idle between any two
// messages, and that wake-up (a futex, a context switch and sysmon's loop on
// the other core) was a quarter of a context switch per message
// (docs/decisions/0039-one-client-cpu.md). Only for sockets that never block
// (nonBlocking): a raw call keeps its P for its whole length, and the runtime
// cannot hand the P on if the call sleeps. And only for small transfers: a
// stop-the-world waits for a raw call to return, so one that copies
// megabytes (a large body arriving, a backlog written at once) goes through
// the runtime as before.

// Under the race detector the calls go through the runtime
// (rawio_race_linux.go).

// nonBlocking reports whether the socket behind raw is in non-blocking
// mode, as every socket of the net package is: only then may the reader
// read and write it with raw system calls (and park it on the poller).
func nonBlocking(raw syscall.RawConn) bool {
	var flags uintptr
	var e syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		flags, _, e = syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}); err != nil || e != 0 {
		return false
	}
	return flags&syscall.O_NONBLOCK != 0
}

// shutdownWrite half-closes the socket fd (fileConn.CloseWrite).
func shutdownWrite(fd uintptr) error { return syscall.Shutdown(int(fd), syscall.SHUT_WR) }
