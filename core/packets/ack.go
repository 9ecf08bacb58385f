package packets

// Decode decodes a PUBACK, PUBREC, PUBREL or PUBCOMP body into a, reusing the
// capacity of a's User Properties. a aliases body afterwards.
func (a *Ack) Decode(h FixedHeader, body []byte, v byte) error {
	switch h.Type {
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
	default:
		return malformed("decoding a " + h.Type.String() + " as an acknowledgement")
	}
	if err := checkBody(h, body, h.Type); err != nil {
		return err
	}
	return a.decode(h, body, v)
}

func (a *Ack) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: h.Type.String()}
	a.Kind = h.Type
	a.Reason = Success
	a.Properties.Reset()
	var err error
	if a.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if a.PacketID == 0 {
		return r.protocol("packet identifier 0 [MQTT-2.2.1-3]")
	}
	if !isV5(v) || r.left() == 0 {
		// 5.0: a remaining length of 2 means Success and no properties (§3.4.2.1).
		return checkEnd(&r)
	}
	c, _ := r.byte("reason code")
	a.Reason = ReasonCode(c)
	if !a.Reason.ValidFor(a.Kind) {
		return r.protocol("reason code 0x" + hexStr(int(c)) + " is not valid here (§2.4)")
	}
	if r.left() > 0 {
		if err := decodeProps(&r, &a.Properties, 1<<a.Kind); err != nil {
			return err
		}
	}
	return checkEnd(&r)
}

// remaining returns the remaining length of a encoded for v, and the size of its
// properties.
func (a *Ack) remaining(v byte) (n, ps int) {
	n = 2
	if isV5(v) {
		if !a.Properties.Empty() {
			ps = a.Properties.size()
			n += 1 + varintLen(ps) + ps
		} else if a.Reason != Success {
			n++
		}
	}
	return n, ps
}

// Append encodes a for version v and appends it to dst. In 5.0 it omits a Success
// reason code without properties, and the property length when there are none.
func (a *Ack) Append(dst []byte, v byte) []byte {
	n, ps := a.remaining(v)
	dst = grow(dst, 2+n)
	dst = appendHeader(dst, a.Kind, headerFlags(a.Kind), n)
	dst = appendU16(dst, a.PacketID)
	if n > 2 {
		dst = append(dst, byte(a.Reason))
	}
	if n > 3 {
		dst = appendProps(dst, &a.Properties, ps)
	}
	return dst
}
