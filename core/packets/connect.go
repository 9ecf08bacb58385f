package packets

import "unicode/utf8"

// CONNECT flag bits (§3.1.2.3).
const (
	connReserved   = 0x01
	connCleanStart = 0x02
	connWill       = 0x04
	connWillQoS    = 0x18
	connWillRetain = 0x20
	connPassword   = 0x40
	connUsername   = 0x80
)

// Decode decodes a CONNECT body into c, as Decode does, for a caller that
// keeps the packet where it likes (a broker: on its stack, so that a
// fleet's connect burst leaves no garbage in the size class of the objects
// each connection keeps). c aliases body afterwards.
func (c *Connect) Decode(h FixedHeader, body []byte) error {
	if h.Type != TypeConnect {
		return malformed("decoding a " + h.Type.String() + " as a CONNECT")
	}
	if h.Remaining != len(body) {
		return malformed(h.Type.String() + ": body length differs from the remaining length (§2.1.4)")
	}
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return err
	}
	return c.decode(h, body, 0)
}

func (c *Connect) decode(h FixedHeader, body []byte, _ byte) error {
	r := reader{b: body, pkt: "CONNECT"}
	var err error
	if c.ProtocolName, err = r.str("protocol name"); err != nil {
		return err
	}
	ver, err := r.byte("protocol level")
	if err != nil {
		return err
	}
	c.ProtocolVersion = ver
	// [MQTT-3.1.2-1] [MQTT-3.1.2-2] a name or level we do not speak: 0x84.
	switch {
	case c.ProtocolName == "MQTT" && (ver == V311 || ver == V5):
	case c.ProtocolName == "MQIsdp" && ver == V31:
	default:
		if ver != V31 && ver != V311 && ver != V5 {
			// An unknown level: answer in 3.1.1, which every client understands.
			c.ProtocolVersion = V311
		}
		return reasonErr(UnsupportedProtocolVersion, "CONNECT: protocol \""+c.ProtocolName+
			"\" level "+hexStr(int(ver))+" is not supported [MQTT-3.1.2-1] [MQTT-3.1.2-2]")
	}
	v := ver
	flags, err := r.byte("connect flags")
	if err != nil {
		return err
	}
	if flags&connReserved != 0 {
		return r.malformed("reserved connect flag is set [MQTT-3.1.2-3]")
	}
	c.CleanStart = flags&connCleanStart != 0
	willQoS := flags & connWillQoS >> 3
	if flags&connWill == 0 {
		if willQoS != 0 {
			return r.malformed("will QoS set without the will flag [MQTT-3.1.2-11]")
		}
		if flags&connWillRetain != 0 {
			return r.malformed("will retain set without the will flag [MQTT-3.1.2-13]")
		}
	} else if willQoS == 3 {
		return r.malformed("will QoS 3 [MQTT-3.1.2-12]")
	}
	c.HasUsername = flags&connUsername != 0
	c.HasPassword = flags&connPassword != 0
	if c.HasPassword && !c.HasUsername && !isV5(v) {
		return r.malformed("password flag set without the user name flag [MQTT-3.1.2-22]")
	}
	if c.KeepAlive, err = r.u16("keep alive"); err != nil {
		return err
	}
	if isV5(v) {
		if err := decodeProps(&r, &c.Properties, inConnect); err != nil {
			return err
		}
		if c.Properties.Has(PropAuthData) && !c.Properties.Has(PropAuthMethod) {
			return r.protocol("Authentication Data without an Authentication Method (§3.1.2.11.10)")
		}
	}
	// [MQTT-3.1.3-3] the client identifier is the first field of the payload.
	if c.ClientID, err = r.str("client identifier"); err != nil {
		return err
	}
	if flags&connWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&connWillRetain != 0}
		if err := w.decode(&r, v); err != nil {
			return err
		}
		c.Will = w
	}
	if c.HasUsername {
		if c.Username, err = r.str("user name"); err != nil {
			return err
		}
	}
	if c.HasPassword {
		if c.Password, err = r.bin("password"); err != nil {
			return err
		}
	}
	return checkEnd(&r)
}

func (w *Will) decode(r *reader, v byte) error {
	if isV5(v) {
		if err := decodeProps(r, &w.Properties, ctxWill); err != nil {
			return err
		}
	}
	var err error
	if w.Topic, err = r.str("will topic"); err != nil {
		return err
	}
	if w.Topic == "" || hasWildcard(w.Topic) {
		return reasonErr(TopicNameInvalid, "CONNECT: will topic is empty or contains a wildcard [MQTT-4.7.3-1] [MQTT-4.7.0-1]")
	}
	if w.Payload, err = r.bin("will payload"); err != nil {
		return err
	}
	if w.Properties.PayloadFormat == 1 && !utf8.Valid(w.Payload) {
		return reasonErr(PayloadFormatInvalid, "CONNECT: will payload is not valid UTF-8 but Payload Format Indicator is 1 (§3.1.3.2.3)")
	}
	return nil
}

// protocolName returns the protocol name CONNECT carries for version v.
func protocolName(v byte) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// Append encodes c for version v and appends it to dst. The protocol name and level
// written are those of v; c.ProtocolName and c.ProtocolVersion are not consulted.
func (c *Connect) Append(dst []byte, v byte) []byte {
	name := protocolName(v)
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(c.ClientID)
	ps, wps := 0, 0
	if isV5(v) {
		ps = c.Properties.size()
		n += varintLen(ps) + ps
	}
	flags := byte(0)
	if c.CleanStart {
		flags |= connCleanStart
	}
	if w := c.Will; w != nil {
		flags |= connWill | w.QoS<<3&connWillQoS
		if w.Retain {
			flags |= connWillRetain
		}
		n += 4 + len(w.Topic) + len(w.Payload)
		if isV5(v) {
			wps = w.Properties.size()
			n += varintLen(wps) + wps
		}
	}
	if c.HasUsername {
		flags |= connUsername
		n += 2 + len(c.Username)
	}
	if c.HasPassword {
		flags |= connPassword
		n += 2 + len(c.Password)
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeConnect, 0, n)
	dst = appendString(dst, name)
	dst = append(dst, v, flags)
	dst = appendU16(dst, c.KeepAlive)
	if isV5(v) {
		dst = appendProps(dst, &c.Properties, ps)
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if isV5(v) {
			dst = appendProps(dst, &w.Properties, wps)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if c.HasUsername {
		dst = appendString(dst, c.Username)
	}
	if c.HasPassword {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}

func (c *Connack) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "CONNACK"}
	flags, err := r.byte("acknowledge flags")
	if err != nil {
		return err
	}
	if flags&^1 != 0 {
		return r.malformed("reserved acknowledge flags are set [MQTT-3.2.2-1]")
	}
	c.SessionPresent = flags == 1
	code, err := r.byte("reason code")
	if err != nil {
		return err
	}
	if !isV5(v) {
		if int(code) >= len(v3ConnackReasons) {
			return r.malformed("return code 0x" + hexStr(int(code)) + " is reserved (§3.2.2.3)")
		}
		c.Reason = v3ConnackReasons[code]
	} else {
		c.Reason = ReasonCode(code)
		if !c.Reason.ValidFor(TypeConnack) {
			return r.protocol("reason code 0x" + hexStr(int(code)) + " is not valid here (§3.2.2.2)")
		}
		if err := decodeProps(&r, &c.Properties, inConnack); err != nil {
			return err
		}
	}
	if c.SessionPresent && c.Reason != Success {
		return r.protocol("session present with a non-zero reason code [MQTT-3.2.2-6]")
	}
	return checkEnd(&r)
}

// Append encodes c for version v and appends it to dst. For 3.1.1 the reason code
// is written as its return code (ReasonCode.V3ConnackCode).
func (c *Connack) Append(dst []byte, v byte) []byte {
	n, ps := 2, 0
	code := byte(c.Reason)
	if isV5(v) {
		ps = c.Properties.size()
		n += varintLen(ps) + ps
	} else {
		code = c.Reason.V3ConnackCode()
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeConnack, 0, n)
	flags := byte(0)
	if c.SessionPresent && v != V31 { // 3.1 has no session present flag
		flags = 1
	}
	dst = append(dst, flags, code)
	if isV5(v) {
		dst = appendProps(dst, &c.Properties, ps)
	}
	return dst
}
