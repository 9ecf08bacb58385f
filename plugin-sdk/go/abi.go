package plume

// The numbers of ABI v1, as plugin-sdk/ABI.md specifies them.

// ABIVersion is the version of the Plume plugin ABI this SDK implements.
const ABIVersion = 1

// Field identifiers of event_get and result_set (ABI.md, "Fields").
const (
	fieldHeader          = 0
	fieldClientID        = 1
	fieldUsername        = 2
	fieldPassword        = 3
	fieldRemoteAddr      = 4
	fieldListener        = 5
	fieldCertSubject     = 6
	fieldConnectProps    = 7
	fieldAttributes      = 8
	fieldTopic           = 9
	fieldPayload         = 10
	fieldAuthMethod      = 11
	fieldAuthData        = 12
	fieldContentType     = 13
	fieldUserProps       = 14
	fieldPrincipal       = 15 // added within v1 (ABI.md section 11)
	fieldCertSANs        = 16 // added within v1
	fieldCertFingerprint = 17 // added within v1
	fieldError           = 32
	fieldReasonString    = 33
)

// Host-function status codes (ABI.md, "Status codes").
const (
	statusAbsent      = -1
	statusBadField    = -2
	statusBadMemory   = -3
	statusWrongPhase  = -4
	statusTooLarge    = -5
	statusBadEncoding = -6
)

// Point bits of declare (ABI.md, "Points").
const (
	pointAuthenticate = 1 << iota
	pointAuthorize
	pointOnPublish
	pointTransform
	pointLifecycle
)

// headerSize is the size of the v1 event header.
const headerSize = 32

// removeLen, as the length of result_set, removes an optional field.
const removeLen = 0xFFFFFFFF

// header is the decoded fixed event header (ABI.md, "Event header").
type header struct {
	point      byte
	protocol   byte
	flags      byte
	qos        byte
	kind       byte
	client     uint64
	topicLen   uint32
	payloadLen uint32
	packetID   uint16
}

const (
	flagRetain      = 1 << 0
	flagDup         = 1 << 1
	flagContentType = 1 << 5
	flagPayloadIn   = 1 << 6 // the payload is in pushedPayload (declare_payload)
)

func decodeHeader(b []byte) header {
	_ = b[31]
	return header{
		point:      b[0],
		protocol:   b[1],
		flags:      b[2],
		qos:        b[3],
		kind:       b[4],
		client:     le64(b[8:]),
		topicLen:   le32(b[16:]),
		payloadLen: le32(b[20:]),
		packetID:   uint16(b[24]) | uint16(b[25])<<8,
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// Pair is one key/value string pair: an MQTT user property or a client attribute.
type Pair struct{ Key, Value string }

// encodePairs writes the ABI list layout: u32 count, then per pair u32 key
// length, key bytes, u32 value length, value bytes (all little-endian).
func encodePairs(ps []Pair) []byte {
	n := 4
	for _, p := range ps {
		n += 8 + len(p.Key) + len(p.Value)
	}
	b := make([]byte, n)
	put32(b, uint32(len(ps)))
	o := 4
	for _, p := range ps {
		put32(b[o:], uint32(len(p.Key)))
		o += 4 + copy(b[o+4:], p.Key)
		put32(b[o:], uint32(len(p.Value)))
		o += 4 + copy(b[o+4:], p.Value)
	}
	return b
}

// decodePairs reads the ABI list layout; a malformed list yields nil.
func decodePairs(b []byte) []Pair {
	if len(b) < 4 {
		return nil
	}
	n := int(le32(b))
	o := 4
	out := make([]Pair, 0, n)
	for i := 0; i < n; i++ {
		var kv [2]string
		for j := range kv {
			if o+4 > len(b) {
				return nil
			}
			l := int(le32(b[o:]))
			o += 4
			if l > len(b)-o {
				return nil
			}
			kv[j] = string(b[o : o+l])
			o += l
		}
		out = append(out, Pair{kv[0], kv[1]})
	}
	return out
}
