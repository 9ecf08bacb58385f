package transport

import (
	"net"
	"syscall"
	"testing"
)

// A WebSocket conn must not expose its socket either: frames may wait
// decoded in the conn while the socket shows nothing readable, so the
// broker must keep its goroutine and its conn for life, never park it nor
// detach it (docs/decisions/0041).
func TestWSConnsAreNeverParked(t *testing.T) {
	var c net.Conn = &wsConn{}
	if _, ok := c.(syscall.Conn); ok {
		t.Fatal("wsConn exposes its socket: the broker would park it on the idle poller")
	}
}
