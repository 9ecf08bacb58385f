//go:build unix

package broker_test

import "syscall"

// setRcvBuf sets the socket fd's receive buffer (SO_RCVBUF); the socket's
// type differs by system (rcvbuf_windows_test.go).
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
