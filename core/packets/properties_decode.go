package packets

// decodeProps reads a property length and the properties that follow into p, which it
// resets first. ctx is the bit of the packet type (or ctxWill) whose rules apply.
func decodeProps(r *reader, p *Properties, ctx uint16) error {
	p.Reset()
	n, err := r.varint("property length")
	if err != nil {
		return err
	}
	if n > len(r.b)-r.i {
		return r.malformed("property length exceeds the packet (§2.2.2.1)")
	}
	end := r.i + n
	sub := reader{b: r.b[:end], i: r.i, pkt: r.pkt}
	for sub.i < end {
		if err := decodeProp(&sub, p, ctx); err != nil {
			return err
		}
	}
	r.i = end
	return nil
}

func decodeProp(r *reader, p *Properties, ctx uint16) error {
	// The identifier is a variable byte integer; all defined ones fit in one byte.
	v, err := r.varint("property identifier")
	if err != nil {
		return err
	}
	if v >= len(props) || props[v].kind == 0 {
		return r.malformed("unknown property identifier 0x" + hexStr(v) + " (§2.2.2.2)")
	}
	id := PropID(v)
	info := &props[id]
	if info.allowed&ctx == 0 {
		// An identifier not valid for the packet type is malformed (§2.2.2.2).
		return r.malformed("property " + info.name + " is not allowed here (§2.2.2.2, Table 2-4)")
	}
	repeatable := id == PropUser || (id == PropSubscriptionID && ctx == inPublish)
	if p.Has(id) && !repeatable {
		return r.protocol("property " + info.name + " appears more than once (" + info.sec + ")")
	}
	p.Set(id)
	switch info.kind {
	case kindByte:
		b, err := r.byte(info.name)
		if err != nil {
			return err
		}
		if b > 1 {
			// Every byte-valued property is a 0/1 flag, Maximum QoS included.
			return r.protocol("property " + info.name + " must be 0 or 1 (" + info.sec + ")")
		}
		setByteProp(p, id, b)
	case kindU16:
		x, err := r.u16(info.name)
		if err != nil {
			return err
		}
		if x == 0 && id != PropServerKeepAlive && id != PropTopicAliasMaximum {
			// Receive Maximum 0 is a protocol error (§3.1.2.11.3, §3.2.2.3.3), and
			// so is Topic Alias 0 [MQTT-3.3.2-8].
			return r.protocol("property " + info.name + " must not be 0 (" + info.sec + ")")
		}
		switch id {
		case PropServerKeepAlive:
			p.ServerKeepAlive = x
		case PropReceiveMaximum:
			p.ReceiveMaximum = x
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = x
		case PropTopicAlias:
			p.TopicAlias = x
		}
	case kindU32:
		x, err := r.u32(info.name)
		if err != nil {
			return err
		}
		switch id {
		case PropMessageExpiry:
			p.MessageExpiry = x
		case PropSessionExpiry:
			p.SessionExpiry = x
		case PropWillDelay:
			p.WillDelay = x
		case PropMaximumPacketSize:
			if x == 0 {
				return r.protocol("property Maximum Packet Size must not be 0 (§3.1.2.11.4)")
			}
			p.MaximumPacketSize = x
		}
	case kindVarint:
		x, err := r.varint(info.name)
		if err != nil {
			return err
		}
		if x == 0 {
			return r.protocol("Subscription Identifier must not be 0 (§3.3.2.3.8)")
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(x))
	case kindString:
		s, err := r.str(info.name)
		if err != nil {
			return err
		}
		switch id {
		case PropContentType:
			p.ContentType = s
		case PropResponseTopic:
			if hasWildcard(s) {
				return r.protocol("Response Topic contains a wildcard [MQTT-3.3.2-14]")
			}
			p.ResponseTopic = s
		case PropAssignedClientID:
			p.AssignedClientID = s
		case PropAuthMethod:
			p.AuthMethod = s
		case PropResponseInfo:
			p.ResponseInfo = s
		case PropServerReference:
			p.ServerReference = s
		case PropReasonString:
			p.ReasonString = s
		}
	case kindBinary:
		b, err := r.bin(info.name)
		if err != nil {
			return err
		}
		if id == PropCorrelationData {
			p.CorrelationData = b
		} else {
			p.AuthData = b
		}
	case kindPair:
		k, err := r.str("User Property name")
		if err != nil {
			return err
		}
		val, err := r.str("User Property value")
		if err != nil {
			return err
		}
		p.User = append(p.User, UserProperty{k, val})
	}
	return nil
}

func setByteProp(p *Properties, id PropID, b byte) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = b
	case PropRequestProblemInfo:
		p.RequestProblemInfo = b
	case PropRequestResponseInfo:
		p.RequestResponseInfo = b
	case PropMaximumQoS:
		p.MaximumQoS = b
	case PropRetainAvailable:
		p.RetainAvailable = b
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = b
	case PropSubIDAvailable:
		p.SubIDAvailable = b
	case PropSharedSubAvailable:
		p.SharedSubAvailable = b
	}
}
