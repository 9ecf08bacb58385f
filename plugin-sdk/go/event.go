package plume

import "unsafe"

// scratch is the buffer small fields are pulled into before being copied into
// a string. An instance runs one call at a time, so one buffer serves.
var scratch [256]byte

func bytesPtr(b []byte) unsafe.Pointer {
	if cap(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func strPtr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// pull reads a variable-length value with get, growing the buffer once if the
// host reports more than fits. It returns ok=false when the value is absent.
func pull(get func(buf []byte) int32) ([]byte, bool) {
	n := get(scratch[:])
	if n < 0 {
		return nil, false
	}
	if int(n) <= len(scratch) {
		return scratch[:n], true
	}
	b := make([]byte, n)
	n = get(b)
	if n < 0 || int(n) > len(b) {
		return nil, false
	}
	return b[:n], true
}

func pullField(field uint32) ([]byte, bool) {
	return pull(func(b []byte) int32 { return hostEventGet(field, bytesPtr(b), uint32(len(b))) })
}

func fieldString(field uint32) string {
	b, _ := pullField(field)
	return string(b)
}

func fieldBytes(field uint32) []byte {
	b, ok := pullField(field)
	if !ok {
		return nil
	}
	return append([]byte(nil), b...)
}

// sizedString pulls a string field whose length the header announced: into
// scratch when it fits, so the string conversion is the only copy made.
func sizedString(field uint32, n uint32) string {
	if n == 0 {
		return ""
	}
	b := scratch[:]
	if n > uint32(len(b)) {
		b = make([]byte, n)
	}
	got := hostEventGet(field, bytesPtr(b), n)
	switch {
	case got < 0:
		return ""
	case uint32(got) > n: // the host's value changed size; fall back
		return fieldString(field)
	}
	return string(b[:got])
}

// Client is the client an event concerns. Its methods pull from the host, so
// read each value once and keep it. Valid only during the call.
type Client struct{ h *header }

// Handle identifies the client for as long as it stays connected; it is never
// reused while the broker runs. Use it to key per-client data of your own.
func (c Client) Handle() uint64 { return c.h.client }

// ProtocolVersion is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
func (c Client) ProtocolVersion() byte { return c.h.protocol }

// ID is the MQTT client identifier.
func (c Client) ID() string { return fieldString(fieldClientID) }

// Username is the CONNECT user name, "" without one.
func (c Client) Username() string { return fieldString(fieldUsername) }

// Password is the CONNECT password (or token), nil without one.
func (c Client) Password() []byte { return fieldBytes(fieldPassword) }

// RemoteAddr is the client's network address, "host:port".
func (c Client) RemoteAddr() string { return fieldString(fieldRemoteAddr) }

// Listener is the name of the broker listener the client connected to.
func (c Client) Listener() string { return fieldString(fieldListener) }

// CertSubject is the subject of the client's TLS certificate, "" without one.
func (c Client) CertSubject() string { return fieldString(fieldCertSubject) }

// CertSANs are the subject alternative names of the client's verified TLS
// certificate: Key is the kind (DNS, IP, email, URI), Value the name. Empty
// without a certificate, and from a host older than the field.
func (c Client) CertSANs() []Pair {
	b, _ := pullField(fieldCertSANs)
	return decodePairs(b)
}

// CertFingerprint is the SHA-256 of the client's verified TLS certificate
// (DER), in lower-case hex; "" without one.
func (c Client) CertFingerprint() string { return fieldString(fieldCertFingerprint) }

// Principal is the identity the client authenticated as, which owns its
// session: the principal an authenticate plugin named (WithPrincipal), else
// the username it allowed. ok is false for an anonymous client, and in
// authenticate until a plugin has allowed the client.
func (c Client) Principal() (principal string, ok bool) {
	b, ok := pullField(fieldPrincipal)
	return string(b), ok
}

// UserProperties are the user properties of the client's CONNECT packet.
func (c Client) UserProperties() []Pair {
	b, _ := pullField(fieldConnectProps)
	return decodePairs(b)
}

// Attributes are the attributes that authenticate attached to the client.
func (c Client) Attributes() []Pair {
	b, _ := pullField(fieldAttributes)
	return decodePairs(b)
}

// Attribute returns one attribute that authenticate attached to the client.
func (c Client) Attribute(key string) (string, bool) {
	b, ok := pull(func(b []byte) int32 {
		return hostAttrGet(strPtr(key), uint32(len(key)), bytesPtr(b), uint32(len(b)))
	})
	return string(b), ok
}

// State returns the bytes last stored with SetState for this client by any
// instance of this plugin, or nil. The host drops them when the client goes.
func (c Client) State() []byte {
	b, ok := pull(func(b []byte) int32 { return hostClientStateGet(bytesPtr(b), uint32(len(b))) })
	if !ok {
		return nil
	}
	return append([]byte(nil), b...)
}

// SetState stores b as this client's state, visible to every instance of the
// plugin until the client disconnects.
func (c Client) SetState(b []byte) { hostClientStateSet(bytesPtr(b), uint32(len(b))) }

// AuthStep tells which exchange an authenticate call belongs to.
type AuthStep uint8

// The authentication steps, numbered as in ABI.md.
const (
	StepConnect  AuthStep = iota // the CONNECT packet
	StepContinue                 // an AUTH 0x18 of an enhanced-authentication exchange
	StepReauth                   // an AUTH 0x19 from a connected client
)

// AuthEvent is one authenticate call.
type AuthEvent struct {
	Client Client
	Step   AuthStep
}

// Method is the MQTT 5 Authentication Method, "" for plain username/password.
func (e *AuthEvent) Method() string { return fieldString(fieldAuthMethod) }

// Data is the MQTT 5 Authentication Data, nil without it.
func (e *AuthEvent) Data() []byte { return fieldBytes(fieldAuthData) }

// Action is what an authorize call asks permission for.
type Action uint8

// The actions, numbered as in ABI.md.
const (
	Publish Action = iota
	Subscribe
)

// AuthzEvent is one authorize call: a PUBLISH topic or a SUBSCRIBE filter.
type AuthzEvent struct {
	Client Client
	Action Action
	QoS    byte
	Retain bool
	h      *header
}

// Topic is the topic name of a publish or the filter of a subscribe (with its
// $share/group/ prefix, if any).
func (e *AuthzEvent) Topic() string { return sizedString(fieldTopic, e.h.topicLen) }

// Message is a PUBLISH seen by on-publish and transform. Getters pull from the
// host; setters (transform only) record the rewrite the host applies after
// the handler returns.
type Message struct {
	Client   Client
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
	h        *header

	newTopic, newContentType string
	newPayload               []byte
	newProps                 []Pair
	set                      uint8
}

const (
	setTopic = 1 << iota
	setPayload
	setContentType
	clearContentType
	setProps
)

// Topic is the message's topic.
func (m *Message) Topic() string {
	if m.set&setTopic != 0 {
		return m.newTopic
	}
	return sizedString(fieldTopic, m.h.topicLen)
}

// PayloadSize is the length of the message's payload in bytes, known
// without copying the payload (or the length of the one SetPayload gave).
func (m *Message) PayloadSize() int {
	if m.set&setPayload != 0 {
		return len(m.newPayload)
	}
	return int(m.h.payloadLen)
}

// Payload is the message's payload (or the one SetPayload gave). To save a
// copy and an allocation per message it lives in the SDK's buffer, which the
// next call to Payload, and the next event, overwrite: change it in place or
// append to it (the buffer has room to grow) and hand it to SetPayload, but
// copy it to keep it past the handler's return.
func (m *Message) Payload() []byte {
	if m.set&setPayload != 0 {
		return m.newPayload
	}
	n := m.h.payloadLen
	if m.h.flags&flagPayloadIn != 0 {
		// The host wrote it into pushedPayload already; what is left of that
		// buffer is room to append.
		return pushedPayload[:n:len(pushedPayload)]
	}
	if n == 0 {
		return payloadBuf[:0]
	}
	if uint32(cap(payloadBuf)) < n {
		// Room for a transform's additions: appending keeps to this buffer.
		payloadBuf = make([]byte, n, n+n/4+256)
	}
	b := payloadBuf[:n]
	got := hostEventGet(fieldPayload, bytesPtr(b), n)
	if got < 0 {
		return nil
	}
	if uint32(got) > n { // the host's value changed size; fall back
		return fieldBytes(fieldPayload)
	}
	return b[:got]
}

// payloadBuf holds the payload of the call in progress when the host did not
// write it into pushedPayload; see Payload.
var payloadBuf = make([]byte, 0, 1024)

// pushedPayload is the buffer declared with declare_payload: the host writes
// payloads that fit into it before on_publish and transform calls, and a
// transform hands its new payload back in it.
var (
	pushedPayload   [4096]byte
	payloadDeclared bool
)

// transformPayloadInBuffer marks a transform result whose low 32 bits are the
// length of the new payload in pushedPayload (ABI.md 3.1).
const transformPayloadInBuffer = 1 << 62

// ContentType is the MQTT 5 Content Type property and whether it is present.
func (m *Message) ContentType() (string, bool) {
	switch {
	case m.set&setContentType != 0:
		return m.newContentType, true
	case m.set&clearContentType != 0:
		return "", false
	}
	b, ok := pullField(fieldContentType)
	return string(b), ok
}

// UserProperties are the message's MQTT 5 user properties, in order.
func (m *Message) UserProperties() []Pair {
	if m.set&setProps != 0 {
		return m.newProps
	}
	b, _ := pullField(fieldUserProps)
	return decodePairs(b)
}

// SetTopic rewrites the topic (transform only).
func (m *Message) SetTopic(t string) { m.newTopic, m.set = t, m.set|setTopic }

// SetPayload rewrites the payload (transform only). The SDK keeps b until the
// handler returns; do not modify it after the call.
func (m *Message) SetPayload(b []byte) { m.newPayload, m.set = b, m.set|setPayload }

// SetContentType sets the Content Type property (transform only).
func (m *Message) SetContentType(ct string) {
	m.newContentType = ct
	m.set = m.set&^clearContentType | setContentType
}

// ClearContentType removes the Content Type property (transform only).
func (m *Message) ClearContentType() { m.set = m.set&^setContentType | clearContentType }

// SetUserProperties replaces the user properties (transform only).
func (m *Message) SetUserProperties(ps []Pair) { m.newProps, m.set = ps, m.set|setProps }

// commit hands the recorded rewrite to the host and returns the transform's
// result: a new payload that fits goes back in pushedPayload, named by the
// result, instead of through a host call.
func (m *Message) commit() int64 {
	var res int64
	if m.set&setTopic != 0 {
		hostResultSet(fieldTopic, strPtr(m.newTopic), uint32(len(m.newTopic)))
	}
	if p := m.newPayload; m.set&setPayload != 0 {
		if payloadDeclared && len(p) <= len(pushedPayload) {
			if len(p) > 0 && &p[0] != &pushedPayload[0] { // not Payload() changed in place
				copy(pushedPayload[:], p)
			}
			res = transformPayloadInBuffer | int64(len(p))
		} else {
			hostResultSet(fieldPayload, bytesPtr(p), uint32(len(p)))
		}
	}
	if m.set&setContentType != 0 {
		hostResultSet(fieldContentType, strPtr(m.newContentType), uint32(len(m.newContentType)))
	}
	if m.set&clearContentType != 0 {
		hostResultSet(fieldContentType, nil, removeLen)
	}
	if m.set&setProps != 0 {
		b := encodePairs(m.newProps)
		hostResultSet(fieldUserProps, bytesPtr(b), uint32(len(b)))
	}
	return res
}
