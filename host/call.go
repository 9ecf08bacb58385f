package host

import (
	"encoding/binary"
	"fmt"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// call is the state of the call an instance is running: the event the guest
// pulls from and the results it pushes. It is reset after every call.
type call struct {
	point  byte // header point byte; 0 between calls
	kind   byte // header kind byte
	client *hooks.Client
	shared *shared      // the plugin's, for the client's entry
	entry  *clientEntry // looked up on first use: see clientEntry
	auth   *hooks.AuthRequest
	authz  *hooks.AuthzRequest
	msg    *packets.Publish

	// init phase
	init        bool
	declared    uint32
	hasDeclared bool
	filters     []filter
	headerAt    uint32 // declare_header's address, 0 for none
	payloadAt   uint32 // declare_payload's buffer, 0 for none
	payloadCap  uint32
	payloadIn   bool // this call's payload was written into that buffer

	// results
	errMsg       string
	reasonString string
	authData     []byte
	attrs        []packets.UserProperty
	principal    string
	changed      uint8
	topic        string
	payload      []byte
	contentType  string
	props        []packets.UserProperty

	scratch []byte // list encodings
	hdr     [headerSize]byte
}

const (
	setTopic = 1 << iota
	setPayload
	setContentType
	clearContentType
	setProps
	setAuthData
	setAttrs
	setPrincipal
)

func (c *call) reset() {
	scratch := c.scratch[:0]
	*c = call{} // cleared in place: cheaper than copying a composite literal in
	c.scratch = scratch
}

// clientEntry is the plugin's record of the call's client (its state), made
// on first use: most calls need only the client's handle, which the broker
// numbers, and skip the lookup.
func (c *call) clientEntry() *clientEntry {
	if c.entry == nil && c.client != nil && c.shared != nil {
		c.entry = c.shared.client(c.client)
	}
	return c.entry
}

// handle is the client's handle for the event header.
func (c *call) handle() uint64 {
	switch {
	case c.client == nil:
		return 0
	case c.client.Handle != 0:
		return c.client.Handle
	}
	if e := c.clientEntry(); e != nil {
		return e.handle
	}
	return 0
}

func (c *call) header() []byte {
	h := &c.hdr
	*h = [headerSize]byte{}
	h[hdrPoint] = c.point
	h[hdrKind] = c.kind
	if cl := c.client; cl != nil {
		h[hdrProtocol] = cl.ProtocolVersion
		if cl.Username != "" {
			h[hdrFlags] |= flagUsername
		}
		if cl.Password() != nil {
			h[hdrFlags] |= flagPassword
		}
		if cl.CertSubject() != "" {
			h[hdrFlags] |= flagCertSubject
		}
	}
	binary.LittleEndian.PutUint64(h[hdrClient:], c.handle())
	switch {
	case c.authz != nil:
		h[hdrQoS] = c.authz.QoS
		if c.authz.Retain {
			h[hdrFlags] |= flagRetain
		}
		binary.LittleEndian.PutUint32(h[hdrTopicLen:], uint32(len(c.authz.Topic)))
	case c.msg != nil:
		m := c.msg
		h[hdrQoS] = m.QoS
		if m.Retain {
			h[hdrFlags] |= flagRetain
		}
		if m.Dup {
			h[hdrFlags] |= flagDup
		}
		if m.Properties.Has(packets.PropContentType) {
			h[hdrFlags] |= flagContentType
		}
		if c.payloadIn {
			h[hdrFlags] |= flagPayloadIn
		}
		binary.LittleEndian.PutUint32(h[hdrTopicLen:], uint32(len(m.Topic)))
		binary.LittleEndian.PutUint32(h[hdrPayloadLen:], uint32(len(m.Payload)))
		binary.LittleEndian.PutUint16(h[hdrPacketID:], m.PacketID)
	}
	return h[:]
}

// get answers event_get for field.
func (c *call) get(mem guestMemory, field, buf, limit uint32) uint64 {
	if c.point == 0 {
		return status(statusWrongPhase)
	}
	if field == fieldHeader {
		return put(mem, buf, limit, c.header())
	}
	if field <= fieldAttributes {
		cl := c.client
		if cl == nil {
			return status(statusBadField)
		}
		switch field {
		case fieldClientID:
			return putString(mem, buf, limit, cl.ID)
		case fieldUsername:
			if cl.Username == "" {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, cl.Username)
		case fieldPassword:
			if cl.Password() == nil {
				return status(statusAbsent)
			}
			return put(mem, buf, limit, cl.Password())
		case fieldRemoteAddr:
			return putString(mem, buf, limit, cl.RemoteAddr)
		case fieldListener:
			return putString(mem, buf, limit, cl.Listener)
		case fieldCertSubject:
			if cl.CertSubject() == "" {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, cl.CertSubject())
		case fieldConnectProps:
			c.scratch = appendUserProps(c.scratch[:0], cl.UserProperties())
			return put(mem, buf, limit, c.scratch)
		case fieldAttributes:
			c.scratch = appendAttributes(c.scratch[:0], cl.Attributes)
			return put(mem, buf, limit, c.scratch)
		}
	}
	switch field {
	case fieldCertSANs:
		if cl := c.client; cl != nil {
			c.scratch = appendSANs(c.scratch[:0], cl.CertSANs())
			return put(mem, buf, limit, c.scratch)
		}
	case fieldCertFingerprint:
		if cl := c.client; cl != nil {
			if cl.CertFingerprint() == "" {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, cl.CertFingerprint())
		}
	case fieldPrincipal:
		// ABSENT for an anonymous client, and in authenticate before a
		// hook has allowed it.
		if cl := c.client; cl != nil {
			if !cl.Authenticated {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, cl.Principal)
		}
	case fieldTopic:
		switch {
		case c.authz != nil:
			return putString(mem, buf, limit, c.authz.Topic)
		case c.msg != nil:
			return putString(mem, buf, limit, c.msg.Topic)
		}
	case fieldPayload:
		if c.msg != nil {
			return put(mem, buf, limit, c.msg.Payload)
		}
	case fieldAuthMethod:
		if c.auth != nil {
			if c.auth.Method == "" {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, c.auth.Method)
		}
	case fieldAuthData:
		if c.auth != nil {
			if c.auth.Data == nil {
				return status(statusAbsent)
			}
			return put(mem, buf, limit, c.auth.Data)
		}
	case fieldContentType:
		if c.msg != nil {
			if !c.msg.Properties.Has(packets.PropContentType) {
				return status(statusAbsent)
			}
			return putString(mem, buf, limit, c.msg.Properties.ContentType)
		}
	case fieldUserProps:
		if c.msg != nil {
			c.scratch = appendUserProps(c.scratch[:0], c.msg.Properties.User)
			return put(mem, buf, limit, c.scratch)
		}
	}
	return status(statusBadField)
}

// set answers result_set: it copies the guest's bytes out once.
func (c *call) set(mem guestMemory, field, ptr, n uint32) int32 {
	if c.point == 0 && !c.init {
		return statusWrongPhase
	}
	if field == fieldContentType && n == removeLen && c.point == byte(hooks.PointTransform) {
		c.changed = c.changed&^setContentType | clearContentType
		return statusOK
	}
	b, ok := read(mem, ptr, n)
	if !ok {
		return statusBadMemory
	}
	if field == fieldError {
		c.errMsg = string(b)
		return statusOK
	}
	switch hooks.Point(c.point) {
	case hooks.PointAuthenticate, hooks.PointAuthorize, hooks.PointOnPublish:
		switch {
		case field == fieldReasonString:
			c.reasonString = string(b)
			return statusOK
		case field == fieldAuthData && c.auth != nil:
			c.authData, c.changed = append([]byte{}, b...), c.changed|setAuthData
			return statusOK
		case field == fieldAttributes && c.auth != nil:
			ps, ok := decodePairs(b)
			if !ok {
				return statusBadEncoding
			}
			c.attrs, c.changed = ps, c.changed|setAttrs
			return statusOK
		case field == fieldPrincipal && c.auth != nil:
			c.principal, c.changed = string(b), c.changed|setPrincipal
			return statusOK
		}
	case hooks.PointTransform:
		switch field {
		case fieldTopic:
			c.topic, c.changed = string(b), c.changed|setTopic
			return statusOK
		case fieldPayload:
			c.payload, c.changed = append([]byte{}, b...), c.changed|setPayload
			return statusOK
		case fieldContentType:
			c.contentType = string(b)
			c.changed = c.changed&^clearContentType | setContentType
			return statusOK
		case fieldUserProps:
			ps, ok := decodePairs(b)
			if !ok {
				return statusBadEncoding
			}
			c.props, c.changed = ps, c.changed|setProps
			return statusOK
		}
	}
	return statusBadField
}

// payloadFromBuffer takes a transform's new payload, the first n bytes of
// the instance's declare_payload buffer, as if the guest had result_set it.
func (c *call) payloadFromBuffer(inst *instance, n uint32) error {
	if inst.payloadAt == 0 || n > inst.payloadCap {
		return fmt.Errorf("%w: transform returned a %d-byte payload in a buffer of %d bytes", ErrABI, n, inst.payloadCap)
	}
	b, ok := inst.g.readMemory(inst.payloadAt, n)
	if !ok {
		return fmt.Errorf("%w: transform's payload buffer lies outside memory", ErrABI)
	}
	c.payload, c.changed = append(make([]byte, 0, n), b...), c.changed|setPayload
	return nil
}

// apply writes a transform's results onto m, replacing (never modifying) the
// slices m holds, as hooks.Hooks.Transform requires.
func (c *call) apply(m *packets.Publish) {
	if c.changed&setTopic != 0 {
		m.Topic = c.topic
	}
	if c.changed&setPayload != 0 {
		m.Payload = c.payload
	}
	if c.changed&setContentType != 0 {
		m.Properties.ContentType = c.contentType
		m.Properties.Set(packets.PropContentType)
	}
	if c.changed&clearContentType != 0 {
		m.Properties.ContentType = ""
		m.Properties.Clear(packets.PropContentType)
	}
	if c.changed&setProps != 0 {
		m.Properties.User = c.props
	}
}
