package transport

import (
	"net"
	"syscall"
	"testing"
)

// The broker parks an idle connection by its socket only when the conn
// exposes it (syscall.Conn). A TLS conn must not: decrypted bytes may wait
// in the TLS layer while the socket shows nothing readable, and a parked
// connection would sit on them (docs/decisions/0020-tls.md).
func TestTLSConnsAreNeverParked(t *testing.T) {
	var c net.Conn = &tlsConn{}
	if _, ok := c.(syscall.Conn); ok {
		t.Fatal("tlsConn exposes its socket: the broker would park it on the idle poller")
	}
}
