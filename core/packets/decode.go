package packets

// Decode decodes the body of a packet (everything after the fixed header) for
// protocol version v. CONNECT needs no version, since it carries its own.
//
// The returned packet aliases body: its strings and slices point into it, so the
// caller must not modify body afterwards.
//
// For CONNECT, once the protocol version has been read, Decode returns the partly
// decoded *Connect alongside any error, so that a server can answer with a CONNACK
// in the client's version.
func Decode(h FixedHeader, body []byte, v byte) (Packet, error) {
	if h.Remaining != len(body) {
		return nil, malformed(h.Type.String() + ": body length differs from the remaining length (§2.1.4)")
	}
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return nil, err
	}
	var p interface {
		Packet
		decode(h FixedHeader, body []byte, v byte) error
	}
	switch h.Type {
	case TypeConnect:
		c := new(Connect)
		err := c.decode(h, body, v)
		if err != nil && c.ProtocolVersion == 0 {
			return nil, err
		}
		return c, err
	case TypeConnack:
		p = new(Connack)
	case TypePublish:
		p = new(Publish)
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		p = new(Ack)
	case TypeSubscribe:
		p = new(Subscribe)
	case TypeSuback:
		p = new(Suback)
	case TypeUnsubscribe:
		p = new(Unsubscribe)
	case TypeUnsuback:
		p = new(Unsuback)
	case TypePingreq:
		p = new(Pingreq)
	case TypePingresp:
		p = new(Pingresp)
	case TypeDisconnect:
		p = new(Disconnect)
	case TypeAuth:
		p = new(Auth)
	default:
		return nil, malformed("unknown packet type")
	}
	if err := p.decode(h, body, v); err != nil {
		return nil, err
	}
	return p, nil
}

// checkBody is the start of every exported decode method: the header must be of
// the method's type with valid flags, and the body exactly as long as the
// remaining length.
func checkBody(h FixedHeader, body []byte, want Type) error {
	if h.Type != want {
		return malformed("decoding a " + h.Type.String() + " as " + want.String())
	}
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return err
	}
	if h.Remaining != len(body) {
		return malformed(want.String() + ": body length differs from the remaining length (§2.1.4)")
	}
	return nil
}

// checkEnd reports leftover bytes after the last field.
func checkEnd(r *reader) error {
	if r.left() != 0 {
		return r.malformed("bytes left after the last field (remaining length too large) (§2.1.4)")
	}
	return nil
}

// isV5 reports whether v is MQTT 5.0; anything else is treated as 3.1.1.
func isV5(v byte) bool { return v >= V5 }
