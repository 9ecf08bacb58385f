package packets

import "math/bits"

func byteProp(p *Properties, id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	}
	return p.SharedSubAvailable
}

func u16Prop(p *Properties, id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	}
	return p.TopicAlias
}

func u32Prop(p *Properties, id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	}
	return p.MaximumPacketSize
}

func strProp(p *Properties, id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	}
	return p.ReasonString
}

// encoded returns the bits of the properties the encoder writes.
func (p *Properties) encoded() uint64 {
	m := p.Present &^ (1<<PropUser | 1<<PropSubscriptionID)
	if len(p.User) > 0 {
		m |= 1 << PropUser
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= 1 << PropSubscriptionID
	}
	return m
}

// size returns the length of the encoded properties, without their length prefix.
func (p *Properties) size() int {
	n := 0
	for m := p.encoded(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if int(id) >= len(props) {
			continue
		}
		switch props[id].kind {
		case kindByte:
			n += 2
		case kindU16:
			n += 3
		case kindU32:
			n += 5
		case kindVarint:
			for _, x := range p.SubscriptionIDs {
				n += 1 + varintLen(int(x))
			}
		case kindString:
			n += 3 + len(strProp(p, id))
		case kindBinary:
			if id == PropCorrelationData {
				n += 3 + len(p.CorrelationData)
			} else {
				n += 3 + len(p.AuthData)
			}
		case kindPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// appendProps appends the property length and the properties, in identifier order.
func appendProps(dst []byte, p *Properties, size int) []byte {
	dst = appendVarint(dst, size)
	for m := p.encoded(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		if int(id) >= len(props) {
			continue
		}
		switch props[id].kind {
		case kindByte:
			dst = append(dst, byte(id), byteProp(p, id))
		case kindU16:
			x := u16Prop(p, id)
			dst = append(dst, byte(id), byte(x>>8), byte(x))
		case kindU32:
			x := u32Prop(p, id)
			dst = append(dst, byte(id), byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
		case kindVarint:
			for _, x := range p.SubscriptionIDs {
				dst = appendVarint(append(dst, byte(id)), int(x))
			}
		case kindString:
			dst = appendString(append(dst, byte(id)), strProp(p, id))
		case kindBinary:
			b := p.AuthData
			if id == PropCorrelationData {
				b = p.CorrelationData
			}
			dst = appendBinary(append(dst, byte(id)), b)
		case kindPair:
			for _, u := range p.User {
				dst = appendString(append(dst, byte(id)), u.Key)
				dst = appendString(dst, u.Value)
			}
		}
	}
	return dst
}
