// Package transport opens the listeners that hand connections to the broker.
// Each listener type is one small file implementing Listener (tcp.go);
// registry.go names the types the config may use. TLS, WebSocket and the
// PROXY protocol plug in here as further types (issue 10): see Listener for
// how each one fits.
package transport

import (
	"net"
)

// Listener is one configured address the broker serves. Start-up calls
// Listen on every listener before any serves, so a port already taken stops
// the broker before it accepts a single client; then Serve on each, in its own
// goroutine; Close ends it.
//
// How the coming transports fit (issue 10):
//   - TLS wraps the net.Listener that Listen opens (tls.NewListener); the
//     broker reads the decrypted stream as from TCP.
//   - The PROXY protocol wraps it too: its conns answer RemoteAddr with the
//     address the proxy reports, which is all the broker reads.
//   - WebSocket has no net.Listener to accept from: its Serve runs an HTTP
//     server and hands each upgraded connection to Conns.ServeConn, and
//     gives Conns.Serve a listener that accepts nothing but whose closing
//     (at shutdown) stops the HTTP server (ws.go).
//   - What a transport learns that the MQTT stream does not carry (a verified
//     client certificate) travels on the conn itself: a conn implementing
//     broker.TransportConn has it read into hooks.Client before CONNECT.
type Listener interface {
	// Name is the listener's name from the config, as hooks and logs see it.
	Name() string
	// Protocol is the listener's type: "tcp", "tls", "ws" or "wss".
	Protocol() string
	// Address is the bound address once Listen has succeeded (port 0
	// resolved), else the configured one.
	Address() string
	// Listen binds the address. Errors name it.
	Listen() error
	// Serve hands each accepted connection to c until Close is called or the
	// broker shuts down (broker.ErrClosed); it blocks.
	Serve(c Conns) error
	// Close stops accepting. Connections already handed over stay with the
	// broker. Close is safe to call more than once, and before Listen.
	Close() error
}

// Conns is where a listener hands accepted connections; *broker.Broker
// satisfies it. A listener with a net.Listener calls Serve, which owns the
// accept loop (back-off on EMFILE, closing on shutdown); one that receives
// connections some other way (WebSocket upgrades) calls ServeConn for each.
type Conns interface {
	Serve(l net.Listener, name string) error
	ServeConn(conn net.Conn, listener string)
}
