//go:build !race

package broker

import (
	"syscall"
	"unsafe"
)

// maxRawIO is the most a raw call transfers: a few microseconds of copying.
const maxRawIO = 64 << 10

// rawRead is read(2) on a non-blocking socket.
func rawRead(fd int, b []byte) (int, error) {
	if len(b) == 0 || len(b) > maxRawIO {
		return syscall.Read(fd, b)
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawWrite is write(2) on a non-blocking socket.
func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 || len(b) > maxRawIO {
		return syscall.Write(fd, b)
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
