//go:build race

package broker

import "syscall"

// The race detector learns that a write on one socket happens before the
// read of its bytes on another from the syscall package's annotations
// (syscall.Write releases, syscall.Read acquires): raw calls would hide that
// order and report races between a test's setup and the broker's reader.

func rawRead(fd int, b []byte) (int, error)  { return syscall.Read(fd, b) }
func rawWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }
