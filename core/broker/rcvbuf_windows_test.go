package broker_test

import "syscall"

// setRcvBuf sets the socket fd's receive buffer (SO_RCVBUF).
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
