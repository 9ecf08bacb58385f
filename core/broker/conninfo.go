package broker

import (
	"net"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// TransportInfo is what a transport learned about a connection that the MQTT
// stream does not carry. The broker reads it once, before CONNECT, into the
// hooks.Client that every hook call sees.
type TransportInfo struct {
	// CertSubject is the subject of the client certificate that mutual TLS
	// verified; "" without one. It must never be set from anything the client
	// could choose unverified: authenticate plugins may trust it.
	CertSubject string
	// CertSANs are that certificate's subject alternative names (DNS names,
	// IP addresses, e-mail addresses, URIs), and CertFingerprint the SHA-256
	// of its DER encoding in lower-case hex; empty without one.
	CertSANs        []string
	CertFingerprint string
	// CertCommonName is that certificate's subject common name: the
	// username of a client on a listener with UseIdentityAsUsername.
	CertCommonName string
	// Err is why the transport refused the connection before a byte of
	// MQTT (a failed TLS handshake, a missing or malformed PROXY header);
	// the broker logs and counts it and closes the connection.
	Err error
}

// TransportConn is a net.Conn that carries TransportInfo. A transport whose
// connections know more than their bytes (mutual TLS, issue 10) hands
// ServeConn or Serve a conn implementing it; plain TCP conns do not, and
// their TransportInfo is the zero value.
//
// This is the seam rather than an argument to ServeConn so that a listener
// which only wraps a net.Listener (tls.NewListener, a PROXY protocol reader)
// can use Serve's accept loop unchanged. A wrapper that does not expose the
// TCP socket (syscall.Conn) cannot be parked while idle; that is the price of
// any conn that buffers, TLS included.
type TransportConn interface {
	net.Conn
	TransportInfo() TransportInfo
}

// readTransportInfo copies what conn's transport knows into c.info and
// returns the rest, which only the CONNECT exchange needs.
func (c *client) readTransportInfo(conn net.Conn) TransportInfo {
	tc, ok := conn.(TransportConn)
	if !ok {
		return TransportInfo{}
	}
	ti := tc.TransportInfo()
	if ti.CertSubject != "" || ti.CertSANs != nil || ti.CertFingerprint != "" {
		c.info.Creds = &hooks.Credentials{CertSubject: ti.CertSubject, CertSANs: ti.CertSANs, CertFingerprint: ti.CertFingerprint}
	}
	return ti
}

// keepStrings gives the strings a connection keeps for its life (remote
// address, client id, username, and the principal when it is the username)
// one allocation of their own, for a CONNECT that leaves nothing else in
// its body to keep: no password, will, user properties or authentication
// method. The client id and username were slices of that body, which they
// kept whole, and the address another small object: two objects for an
// idle device, each in a size class the accept and handshake garbage fills,
// became one (docs/decisions/0049). Before attach, on the connection's own
// goroutine: the session entry takes its id from here.
func (c *client) keepStrings(cp *packets.Connect) {
	if cp.Password != nil || cp.Will != nil || len(cp.Properties.User) > 0 || cp.Properties.AuthMethod != "" {
		return
	}
	in := &c.info
	addr, id, user := len(in.RemoteAddr), len(in.ID), len(in.Username)
	s := in.RemoteAddr + in.ID + in.Username
	sameUser := in.Principal == in.Username
	in.RemoteAddr, in.ID, in.Username = s[:addr], s[addr:addr+id], s[addr+id:addr+id+user]
	if sameUser {
		in.Principal = in.Username
	}
}

// MaxPacketSize is the largest packet the broker accepts (Limits). A
// transport that frames the stream itself (WebSocket) bounds its frames by
// it, so that it refuses neither less nor much more than the broker would.
func (b *Broker) MaxPacketSize() uint32 { return b.limits().MaxPacketSize }
