package packets

func (*Pingreq) decode(h FixedHeader, body []byte, _ byte) error {
	if len(body) != 0 {
		return malformed("PINGREQ: remaining length must be 0 (§3.12)")
	}
	return nil
}

// Append encodes a PINGREQ and appends it to dst.
func (*Pingreq) Append(dst []byte, _ byte) []byte { return append(dst, byte(TypePingreq)<<4, 0) }

func (*Pingresp) decode(h FixedHeader, body []byte, _ byte) error {
	if len(body) != 0 {
		return malformed("PINGRESP: remaining length must be 0 (§3.13)")
	}
	return nil
}

// Append encodes a PINGRESP and appends it to dst.
func (*Pingresp) Append(dst []byte, _ byte) []byte { return append(dst, byte(TypePingresp)<<4, 0) }

// decodeReasonAndProps reads the optional reason code and properties that end
// DISCONNECT and AUTH in 5.0: an empty body means Success without properties.
func decodeReasonAndProps(r *reader, t Type, reason *ReasonCode, p *Properties) error {
	*reason = Success
	p.Reset()
	if r.left() == 0 {
		return nil
	}
	c, _ := r.byte("reason code")
	*reason = ReasonCode(c)
	if !reason.ValidFor(t) {
		return r.protocol("reason code 0x" + hexStr(int(c)) + " is not valid here (§2.4)")
	}
	if r.left() > 0 {
		if err := decodeProps(r, p, 1<<t); err != nil {
			return err
		}
	}
	return checkEnd(r)
}

// appendReasonAndProps writes a DISCONNECT or AUTH in 5.0's shortest form.
func appendReasonAndProps(dst []byte, t Type, reason ReasonCode, p *Properties) []byte {
	n, ps := 0, 0
	if !p.Empty() {
		ps = p.size()
		n = 1 + varintLen(ps) + ps
	} else if reason != Success {
		n = 1
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, t, 0, n)
	if n > 0 {
		dst = append(dst, byte(reason))
	}
	if n > 1 {
		dst = appendProps(dst, p, ps)
	}
	return dst
}

func (d *Disconnect) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "DISCONNECT"}
	if !isV5(v) {
		d.Reason = Success
		d.Properties.Reset()
		if len(body) != 0 {
			return r.malformed("remaining length must be 0 in 3.1.1 (§3.14)")
		}
		return nil
	}
	return decodeReasonAndProps(&r, TypeDisconnect, &d.Reason, &d.Properties)
}

// Append encodes d for version v and appends it to dst. In 3.1.1, and in 5.0 for
// Success without properties, the packet is two bytes.
func (d *Disconnect) Append(dst []byte, v byte) []byte {
	if !isV5(v) {
		return append(dst, byte(TypeDisconnect)<<4, 0)
	}
	return appendReasonAndProps(dst, TypeDisconnect, d.Reason, &d.Properties)
}

func (a *Auth) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "AUTH"}
	if !isV5(v) {
		return r.malformed("AUTH does not exist before MQTT 5.0 (packet type 15 is reserved in 3.1.1, §2.2.1)")
	}
	if err := decodeReasonAndProps(&r, TypeAuth, &a.Reason, &a.Properties); err != nil {
		return err
	}
	// The method is required (§3.15.2.2.2), but §3.15.2.1 lets a Success without
	// properties omit everything; we accept that, with or without the empty
	// property length.
	if !a.Properties.Has(PropAuthMethod) && (a.Reason != Success || !a.Properties.Empty()) {
		return r.protocol("no Authentication Method (§3.15.2.2.2)")
	}
	return nil
}

// Append encodes a and appends it to dst. AUTH exists only in 5.0; for an older
// version it writes the packet as 5.0 would.
func (a *Auth) Append(dst []byte, _ byte) []byte {
	return appendReasonAndProps(dst, TypeAuth, a.Reason, &a.Properties)
}
