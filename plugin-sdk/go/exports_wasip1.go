//go:build wasip1

package plume

import "unsafe"

// The exports of ABI v1. They decode the event header, call the registered
// handler and encode its answer; see ABI.md, "Exports" and "Results".

//go:wasmexport plume_abi_version
func plumeABIVersion() int32 { return ABIVersion }

//go:wasmexport plume_init
func plumeInit(configLen int32) int32 {
	// The plugin's init runs first: it may call Filters from its config.
	if handlers.init != nil {
		if err := handlers.init(Config()); err != nil {
			setError(err)
			return errResultCode
		}
	}
	if p := declaredPoints(); hostDeclare(p) < 0 {
		return errResultCode
	}
	for _, f := range handlers.filters {
		if hostDeclareFilter(strPtr(f), uint32(len(f))) < 0 {
			setError(errorString("bad topic filter " + f))
			return errResultCode
		}
	}
	// Have the host write each call's header into hdrBuf: one host call
	// less per event. Should it refuse, readHeader pulls it instead.
	headerPushed = hostDeclareHeader(unsafe.Pointer(&hdrBuf[0])) == 0
	// And payloads that fit into pushedPayload, which a transform may also
	// return its payload in: two host calls less per transformed message.
	payloadDeclared = hostDeclarePayload(unsafe.Pointer(&pushedPayload[0]), uint32(len(pushedPayload))) == 0
	return 0
}

type errorString string

func (e errorString) Error() string { return string(e) }

var hdrBuf [headerSize]byte

// cur is the header of the call in progress; an instance runs one call at a time.
var cur header

// headerPushed says the host writes each call's header into hdrBuf itself.
var headerPushed bool

func readHeader() *header {
	if !headerPushed {
		hostEventGet(fieldHeader, bytesPtr(hdrBuf[:]), headerSize)
	}
	cur = decodeHeader(hdrBuf[:])
	return &cur
}

func setReason(s string) {
	if s != "" {
		hostResultSet(fieldReasonString, strPtr(s), uint32(len(s)))
	}
}

// packResult builds the i64 result of ABI.md: outcome, reason code, flags, QoS.
func packResult(outcome, reason byte, flags, qos byte) int64 {
	return int64(outcome) | int64(reason)<<8 | int64(flags)<<16 | int64(qos)<<24
}

func decisionResult(d Decision) int64 {
	setReason(d.ReasonString)
	if len(d.Attributes) > 0 {
		b := encodePairs(d.Attributes)
		hostResultSet(fieldAttributes, bytesPtr(b), uint32(len(b)))
	}
	if d.AuthData != nil {
		hostResultSet(fieldAuthData, bytesPtr(d.AuthData), uint32(len(d.AuthData)))
	}
	if d.Principal != "" {
		hostResultSet(fieldPrincipal, strPtr(d.Principal), uint32(len(d.Principal)))
	}
	var flags byte
	if d.HasMaxQoS {
		flags |= 1 // MAX_QOS
	}
	if d.Cache {
		flags |= 2 // CACHE
	}
	return packResult(byte(d.Verdict), byte(d.Reason), flags, d.MaxQoS)
}

//go:wasmexport plume_authenticate
func plumeAuthenticate() int64 {
	if handlers.authn == nil {
		return 0
	}
	h := readHeader()
	authnEv = AuthEvent{Client: Client{h}, Step: AuthStep(h.kind)}
	return decisionResult(handlers.authn(&authnEv))
}

//go:wasmexport plume_authorize
func plumeAuthorize() int64 {
	if handlers.authz == nil {
		return 0
	}
	h := readHeader()
	authzEv = AuthzEvent{Client: Client{h}, Action: Action(h.kind), QoS: h.qos, Retain: h.flags&flagRetain != 0, h: h}
	return decisionResult(handlers.authz(&authzEv))
}

// The events handed to handlers are reused from call to call, which saves an
// allocation per call; handlers must not keep them (the docs say so).
var (
	authnEv AuthEvent
	authzEv AuthzEvent
	msgEv   Message
)

func message(h *header) *Message {
	msgEv = Message{
		Client: Client{h}, QoS: h.qos, Retain: h.flags&flagRetain != 0,
		Dup: h.flags&flagDup != 0, PacketID: h.packetID, h: h,
	}
	return &msgEv
}

//go:wasmexport plume_on_publish
func plumeOnPublish() int64 {
	if handlers.publish == nil {
		return 0
	}
	h := readHeader()
	d := handlers.publish(message(h))
	setReason(d.ReasonString)
	return packResult(byte(d.Action), byte(d.Reason), 0, 0)
}

//go:wasmexport plume_transform
func plumeTransform() int64 {
	if handlers.transform == nil {
		return 0
	}
	h := readHeader()
	m := message(h)
	if err := handlers.transform(m); err != nil {
		setError(err)
		return errResultCode
	}
	return m.commit()
}

//go:wasmexport plume_on_connect
func plumeOnConnect() {
	if handlers.connect != nil {
		h := readHeader()
		handlers.connect(Client{h})
	}
}

//go:wasmexport plume_on_disconnect
func plumeOnDisconnect() {
	if handlers.disconnect != nil {
		h := readHeader()
		handlers.disconnect(Client{h}, ReasonCode(h.kind))
	}
}
