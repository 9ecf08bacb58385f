package setting

import "net"

// IsLoopback reports whether addr ("host:port") names a loopback address or
// "localhost". An empty host (":8080") listens on every interface: not
// loopback. Defaults that are safe only on loopback (anonymous clients, an
// operations endpoint without credentials) depend on it.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
