package packets

import "unicode/utf8"

// Decode decodes a PUBLISH body into p, reusing the capacity of p's property slices.
// It allocates nothing for a PUBLISH without User Properties or Subscription
// Identifiers. p aliases body afterwards.
func (p *Publish) Decode(h FixedHeader, body []byte, v byte) error {
	if err := checkBody(h, body, TypePublish); err != nil {
		return err
	}
	return p.decode(h, body, v)
}

func (p *Publish) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "PUBLISH"}
	p.Dup = h.Flags&0x08 != 0
	p.QoS = h.Flags >> 1 & 0x03
	p.Retain = h.Flags&0x01 != 0
	if p.QoS == 3 {
		return r.malformed("QoS 3 [MQTT-3.3.1-4]")
	}
	if p.Dup && p.QoS == 0 && v >= V311 {
		return r.protocol("DUP flag set on a QoS 0 message [MQTT-3.3.1-2]")
	}
	var err error
	if p.Topic, err = r.str("topic name"); err != nil {
		return err
	}
	if hasWildcard(p.Topic) { // [MQTT-3.3.2-2] [MQTT-4.7.0-1]
		return reasonErr(TopicNameInvalid, "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]")
	}
	p.PacketID = 0
	if p.QoS > 0 {
		if p.PacketID, err = r.u16("packet identifier"); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return r.protocol("packet identifier 0 [MQTT-2.2.1-3]")
		}
	}
	if isV5(v) {
		if err := decodeProps(&r, &p.Properties, inPublish); err != nil {
			return err
		}
	} else {
		p.Properties.Reset()
	}
	if p.Topic == "" {
		if !isV5(v) {
			return reasonErr(TopicNameInvalid, "PUBLISH: empty topic name [MQTT-4.7.3-1]")
		}
		if !p.Properties.Has(PropTopicAlias) {
			// Zero length is legal only with a Topic Alias (§3.3.2.1).
			return r.protocol("empty topic name without a Topic Alias (§3.3.2.1)")
		}
	}
	p.Payload = body[r.i:len(body):len(body)]
	if p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		// The receiver may check the payload against the indicator (§3.3.2.3.2).
		return reasonErr(PayloadFormatInvalid, "PUBLISH: payload is not valid UTF-8 but Payload Format Indicator is 1 (§3.3.2.3.2)")
	}
	return nil
}

// remaining returns the remaining length of p encoded for v, and the size of its
// properties.
func (p *Publish) remaining(v byte) (n, ps int) {
	n = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if isV5(v) {
		ps = p.Properties.size()
		n += varintLen(ps) + ps
	}
	return n, ps
}

// Append encodes p for version v and appends it to dst.
func (p *Publish) Append(dst []byte, v byte) []byte {
	n, ps := p.remaining(v)
	flags := p.QoS << 1
	if p.Dup {
		flags |= 0x08
	}
	if p.Retain {
		flags |= 0x01
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypePublish, flags, n)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if isV5(v) {
		dst = appendProps(dst, &p.Properties, ps)
	}
	return append(dst, p.Payload...)
}
