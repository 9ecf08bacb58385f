package host

import (
	"encoding/binary"
	"sort"
	"strings"

	"github.com/plumemq/plume/core/packets"
)

// The numbers of ABI v1 (plugin-sdk/ABI.md). The host and every SDK must agree
// on each of them; ABI.md is the source of truth.

// ABIVersion is the plugin ABI version this host speaks.
const ABIVersion = 1

// Names of the guest's exports.
const (
	exportABIVersion   = "plume_abi_version"
	exportInit         = "plume_init"
	exportAuthenticate = "plume_authenticate"
	exportAuthorize    = "plume_authorize"
	exportOnPublish    = "plume_on_publish"
	exportTransform    = "plume_transform"
	exportOnConnect    = "plume_on_connect"
	exportOnDisconnect = "plume_on_disconnect"
)

// importModule is the module name of the host functions.
const importModule = "plume"

// Field identifiers of event_get and result_set.
const (
	fieldHeader       = 0
	fieldClientID     = 1
	fieldUsername     = 2
	fieldPassword     = 3
	fieldRemoteAddr   = 4
	fieldListener     = 5
	fieldCertSubject  = 6
	fieldConnectProps = 7
	fieldAttributes   = 8
	fieldTopic        = 9
	fieldPayload      = 10
	fieldAuthMethod   = 11
	fieldAuthData     = 12
	fieldContentType  = 13
	fieldUserProps    = 14
	fieldPrincipal    = 15
	// Added within v1 after PRINCIPAL (ABI.md section 11).
	fieldCertSANs        = 16
	fieldCertFingerprint = 17
	fieldError           = 32
	fieldReasonString    = 33
)

// Status codes returned (as negative i32) by host functions.
const (
	statusOK          = 0
	statusAbsent      = -1
	statusBadField    = -2
	statusBadMemory   = -3
	statusWrongPhase  = -4
	statusTooLarge    = -5
	statusBadEncoding = -6
)

// removeLen as a result_set length removes an optional field.
const removeLen = 0xFFFFFFFF

// Event header layout (32 bytes, little-endian).
const (
	headerSize       = 32
	hdrPoint         = 0
	hdrProtocol      = 1
	hdrFlags         = 2
	hdrQoS           = 3
	hdrKind          = 4
	hdrClient        = 8
	hdrTopicLen      = 16
	hdrPayloadLen    = 20
	hdrPacketID      = 24
	flagRetain       = 1 << 0
	flagDup          = 1 << 1
	flagUsername     = 1 << 2
	flagPassword     = 1 << 3
	flagCertSubject  = 1 << 4
	flagContentType  = 1 << 5
	flagPayloadIn    = 1 << 6 // the payload is in the declare_payload buffer
	resultFlagMaxQoS = 1 << 0
	resultFlagCache  = 1 << 1
)

// A transform result with this bit set says the new payload is the first
// (result & 0xFFFFFFFF) bytes of the declare_payload buffer.
const transformPayloadInBuffer = 1 << 62

// Lifecycle events carry these values in the header's point byte, so one
// header layout serves every export.
const (
	pointConnect    = 0x10
	pointDisconnect = 0x20
)

// Outcomes in the low byte of an i64 result.
const (
	outcomePass     = 0
	outcomeAllow    = 1
	outcomeDeny     = 2
	outcomeContinue = 3 // authenticate only
	outcomeDeliver  = 0
	outcomeDrop     = 1
	outcomeReject   = 2
)

// Log levels of the log import.
const (
	levelDebug = 0
	levelInfo  = 1
	levelWarn  = 2
	levelError = 3
)

// appendPairs appends the ABI list layout: u32 count, then per pair u32 key
// length, key, u32 value length, value.
func appendUserProps(b []byte, ps []packets.UserProperty) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ps)))
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Key)))
		b = append(b, p.Key...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Value)))
		b = append(b, p.Value...)
	}
	return b
}

// appendSANs encodes subject alternative names, "KIND:name" as
// hooks.Client carries them, in the list layout: KIND as the key, the name
// as the value.
func appendSANs(b []byte, sans []string) []byte {
	ps := make([]packets.UserProperty, len(sans))
	for i, s := range sans {
		kind, name, _ := strings.Cut(s, ":")
		ps[i] = packets.UserProperty{Key: kind, Value: name}
	}
	return appendUserProps(b, ps)
}

// appendAttributes encodes a map in the list layout, sorted by key so that
// the bytes a plugin sees do not depend on map order.
func appendAttributes(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ps := make([]packets.UserProperty, len(keys))
	for i, k := range keys {
		ps[i] = packets.UserProperty{Key: k, Value: m[k]}
	}
	return appendUserProps(b, ps)
}

// decodePairs reads the list layout; ok is false for a malformed list.
func decodePairs(b []byte) (ps []packets.UserProperty, ok bool) {
	if len(b) < 4 {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*8 > uint64(len(b)) {
		return nil, false
	}
	ps = make([]packets.UserProperty, 0, n)
	for i := uint32(0); i < n; i++ {
		var kv [2]string
		for j := range kv {
			if len(b) < 4 {
				return nil, false
			}
			l := binary.LittleEndian.Uint32(b)
			b = b[4:]
			if uint64(l) > uint64(len(b)) {
				return nil, false
			}
			kv[j] = string(b[:l])
			b = b[l:]
		}
		ps = append(ps, packets.UserProperty{Key: kv[0], Value: kv[1]})
	}
	return ps, len(b) == 0
}
