//go:build !linux

package broker

import "syscall"

// Elsewhere the reader's socket calls go through the runtime (rawio_linux.go
// says why Linux does not).

func rawRead(fd int, b []byte) (int, error)  { return syscall.Read(fd, b) }
func rawWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }

func nonBlocking(syscall.RawConn) bool { return true }
