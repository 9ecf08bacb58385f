//go:build !linux && !windows

package broker

import "syscall"

// Elsewhere the reader's socket calls go through the runtime (rawio_linux.go
// says why Linux does not); Windows has its own (rawio_windows.go).

func rawRead(fd int, b []byte) (int, error)  { return syscall.Read(fd, b) }
func rawWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }

func nonBlocking(syscall.RawConn) bool { return true }

// shutdownWrite half-closes the socket fd (fileConn.CloseWrite).
func shutdownWrite(fd uintptr) error { return syscall.Shutdown(int(fd), syscall.SHUT_WR) }
