package broker

import "syscall"

// On Windows a socket is an overlapped handle that the runtime's I/O
// completion port owns: read(2)-style calls on it are not the runtime's way
// to use it. So no socket counts as non-blocking here, the reader reads and
// writes every connection through its net.Conn, and the raw calls below are
// never reached; they exist so that the reader's code builds.

func rawRead(int, []byte) (int, error)  { return 0, syscall.EWINDOWS }
func rawWrite(int, []byte) (int, error) { return 0, syscall.EWINDOWS }

func nonBlocking(syscall.RawConn) bool { return false }

// shutdownWrite half-closes the socket fd (fileConn.CloseWrite; only a
// detached connection has a fileConn, and only Linux detaches).
func shutdownWrite(fd uintptr) error { return syscall.Shutdown(syscall.Handle(fd), syscall.SHUT_WR) }
