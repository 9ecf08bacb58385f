package packets

// DecodeFixedHeader reads a fixed header from the start of b. It returns the header
// and the number of bytes it used; ErrShortBuffer (n == 0) when b does not hold a
// whole header yet; a *Error (MalformedPacket) for a remaining length over 4 bytes,
// the reserved type 0, or flag bits that are wrong for the type [MQTT-2.1.3-1]
// (PUBLISH with QoS 3 too).
func DecodeFixedHeader(b []byte) (h FixedHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, ErrShortBuffer
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0F
	x, m := parseVarint(b[1:])
	if m == 0 {
		return h, 0, ErrShortBuffer
	}
	if m < 0 {
		return h, 0, malformed(h.Type.String() + ": remaining length longer than 4 bytes [MQTT-1.5.5-1]")
	}
	h.Remaining = x
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return h, 0, err
	}
	return h, 1 + m, nil
}

// checkFlags checks the fixed header's flag bits against Table 2-2.
func checkFlags(t Type, flags byte) error {
	switch t {
	case 0:
		return malformed("reserved packet type 0 (§2.1.2)")
	case TypePublish:
		if flags&0x06 == 0x06 {
			return malformed("PUBLISH: QoS 3 [MQTT-3.3.1-4]")
		}
		return nil
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		if flags != 0x02 {
			return malformed(t.String() + ": fixed header flags must be 0010 [MQTT-2.1.3-1]")
		}
		return nil
	}
	if flags != 0 {
		return malformed(t.String() + ": fixed header flags must be 0000 [MQTT-2.1.3-1]")
	}
	return nil
}

// headerFlags returns the fixed header flags an encoder writes for type t.
func headerFlags(t Type) byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0x02
	}
	return 0
}
