package packets

import "strings"

// Subscription options bits (§3.8.3.1).
const (
	optQoS            = 0x03
	optNoLocal        = 0x04
	optRetainAsPub    = 0x08
	optRetainHandling = 0x30
	optReserved5      = 0xC0
	optReserved311    = 0xFC
)

func (s *Subscribe) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "SUBSCRIBE"}
	var err error
	if s.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if s.PacketID == 0 {
		return r.protocol("packet identifier 0 [MQTT-2.2.1-3]")
	}
	if isV5(v) {
		if err := decodeProps(&r, &s.Properties, inSubscribe); err != nil {
			return err
		}
	}
	s.Subscriptions = s.Subscriptions[:0]
	for r.left() > 0 {
		var sub Subscription
		if sub.Filter, err = r.str("topic filter"); err != nil {
			return err
		}
		o, err := r.byte("subscription options")
		if err != nil {
			return err
		}
		if err := sub.setOptions(&r, o, v); err != nil {
			return err
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if len(s.Subscriptions) == 0 {
		return r.protocol("no topic filter [MQTT-3.8.3-2]")
	}
	return nil
}

func (sub *Subscription) setOptions(r *reader, o byte, v byte) error {
	if isV5(v) && o&optReserved5 != 0 || !isV5(v) && o&optReserved311 != 0 {
		return r.malformed("reserved bits of the subscription options are set [MQTT-3.8.3-5]")
	}
	sub.QoS = o & optQoS
	if sub.QoS == 3 {
		return r.malformed("subscription QoS 3 [MQTT-3.8.3-5]")
	}
	sub.NoLocal = o&optNoLocal != 0
	sub.RetainAsPublished = o&optRetainAsPub != 0
	sub.RetainHandling = o & optRetainHandling >> 4
	if sub.RetainHandling == 3 {
		return r.protocol("retain handling 3 (§3.8.3.1)")
	}
	if sub.NoLocal && strings.HasPrefix(sub.Filter, "$share/") {
		return r.protocol("No Local on a shared subscription [MQTT-3.8.3-4]")
	}
	return nil
}

func (sub *Subscription) options() byte {
	o := sub.QoS&optQoS | sub.RetainHandling<<4&optRetainHandling
	if sub.NoLocal {
		o |= optNoLocal
	}
	if sub.RetainAsPublished {
		o |= optRetainAsPub
	}
	return o
}

// Append encodes s for version v and appends it to dst. For 3.1.1 only the QoS of
// each subscription's options is written.
func (s *Subscribe) Append(dst []byte, v byte) []byte {
	n, ps := 2, 0
	if isV5(v) {
		ps = s.Properties.size()
		n += varintLen(ps) + ps
	}
	for i := range s.Subscriptions {
		n += 3 + len(s.Subscriptions[i].Filter)
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeSubscribe, headerFlags(TypeSubscribe), n)
	dst = appendU16(dst, s.PacketID)
	if isV5(v) {
		dst = appendProps(dst, &s.Properties, ps)
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		o := sub.options()
		if !isV5(v) {
			o &= optQoS
		}
		dst = append(appendString(dst, sub.Filter), o)
	}
	return dst
}

func (s *Suback) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "SUBACK"}
	var err error
	if s.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if isV5(v) {
		if err := decodeProps(&r, &s.Properties, inSuback); err != nil {
			return err
		}
	}
	s.Reasons = s.Reasons[:0]
	for r.left() > 0 {
		c, _ := r.byte("reason code")
		rc := ReasonCode(c)
		if isV5(v) && !rc.ValidFor(TypeSuback) || !isV5(v) && c > 2 && c != 0x80 {
			return r.protocol("reason code 0x" + hexStr(int(c)) + " is not valid here (§3.9.3)")
		}
		s.Reasons = append(s.Reasons, rc)
	}
	if len(s.Reasons) == 0 {
		return r.protocol("no reason codes (§3.9.3)")
	}
	return nil
}

// Append encodes s for version v and appends it to dst. For 3.1.1 a reason code is
// written as the return code 0, 1, 2 or, for any error, 0x80.
func (s *Suback) Append(dst []byte, v byte) []byte {
	n, ps := 2+len(s.Reasons), 0
	if isV5(v) {
		ps = s.Properties.size()
		n += varintLen(ps) + ps
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeSuback, 0, n)
	dst = appendU16(dst, s.PacketID)
	if isV5(v) {
		dst = appendProps(dst, &s.Properties, ps)
	}
	for _, rc := range s.Reasons {
		if !isV5(v) && (rc > GrantedQoS2) {
			rc = UnspecifiedError
		}
		dst = append(dst, byte(rc))
	}
	return dst
}

func (u *Unsubscribe) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "UNSUBSCRIBE"}
	var err error
	if u.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if u.PacketID == 0 {
		return r.protocol("packet identifier 0 [MQTT-2.2.1-3]")
	}
	if isV5(v) {
		if err := decodeProps(&r, &u.Properties, inUnsub); err != nil {
			return err
		}
	}
	u.Filters = u.Filters[:0]
	for r.left() > 0 {
		f, err := r.str("topic filter")
		if err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	if len(u.Filters) == 0 {
		return r.protocol("no topic filter [MQTT-3.10.3-2]")
	}
	return nil
}

// Append encodes u for version v and appends it to dst.
func (u *Unsubscribe) Append(dst []byte, v byte) []byte {
	n, ps := 2, 0
	if isV5(v) {
		ps = u.Properties.size()
		n += varintLen(ps) + ps
	}
	for _, f := range u.Filters {
		n += 2 + len(f)
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeUnsubscribe, headerFlags(TypeUnsubscribe), n)
	dst = appendU16(dst, u.PacketID)
	if isV5(v) {
		dst = appendProps(dst, &u.Properties, ps)
	}
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func (u *Unsuback) decode(h FixedHeader, body []byte, v byte) error {
	r := reader{b: body, pkt: "UNSUBACK"}
	var err error
	if u.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	u.Reasons = u.Reasons[:0]
	if !isV5(v) {
		return checkEnd(&r)
	}
	if err := decodeProps(&r, &u.Properties, inUnsuback); err != nil {
		return err
	}
	for r.left() > 0 {
		c, _ := r.byte("reason code")
		if !ReasonCode(c).ValidFor(TypeUnsuback) {
			return r.protocol("reason code 0x" + hexStr(int(c)) + " is not valid here (§3.11.3)")
		}
		u.Reasons = append(u.Reasons, ReasonCode(c))
	}
	if len(u.Reasons) == 0 {
		return r.protocol("no reason codes (§3.11.3)")
	}
	return nil
}

// Append encodes u for version v and appends it to dst. 3.1.1 has no reason codes,
// so only the packet identifier is written.
func (u *Unsuback) Append(dst []byte, v byte) []byte {
	n, ps := 2, 0
	if isV5(v) {
		ps = u.Properties.size()
		n += varintLen(ps) + ps + len(u.Reasons)
	}
	dst = grow(dst, 5+n)
	dst = appendHeader(dst, TypeUnsuback, 0, n)
	dst = appendU16(dst, u.PacketID)
	if isV5(v) {
		dst = appendProps(dst, &u.Properties, ps)
		for _, rc := range u.Reasons {
			dst = append(dst, byte(rc))
		}
	}
	return dst
}
