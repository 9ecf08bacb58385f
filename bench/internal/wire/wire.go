// Package wire is the load generator's own minimal MQTT 3.1.1 codec: just the
// packets the benchmark sends and receives (CONNECT, CONNACK, SUBSCRIBE,
// SUBACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ/PINGRESP, DISCONNECT).
//
// It is written for speed and independence rather than completeness: encoders
// append to a caller's buffer and decoders return slices into it, so the hot
// path allocates nothing, and the load generator shares no code with any of
// the brokers it measures. See
// https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Type is an MQTT control packet type (section 2.2.1).
type Type byte

// Control packet types used by the load generator.
const (
	CONNECT      Type = 1
	CONNACK      Type = 2
	PUBLISH      Type = 3
	PUBACK       Type = 4
	PUBREC       Type = 5
	PUBREL       Type = 6
	PUBCOMP      Type = 7
	SUBSCRIBE    Type = 8
	SUBACK       Type = 9
	PINGREQ      Type = 12
	PINGRESP     Type = 13
	DISCONNECT   Type = 14
	maxRemainLen      = 268435455 // section 2.2.3
)

// Errors a decoder reports; callers branch on them with errors.Is.
var (
	ErrMalformed     = errors.New("malformed packet")
	ErrRemainTooLong = errors.New("remaining length exceeds 4 bytes")
)

// Header is a decoded fixed header: the type, the four flag bits and the body.
type Header struct {
	Type  Type
	Flags byte
	Body  []byte
}

// AppendFixedHeader appends a fixed header of type t with flags announcing a
// body of n bytes, whether or not that body follows.
func AppendFixedHeader(b []byte, t Type, flags byte, n int) []byte {
	return appendRemaining(append(b, byte(t)<<4|flags), n)
}

// appendRemaining appends the variable-length encoding of n (section 2.2.3).
func appendRemaining(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// AppendConnect appends a CONNECT packet with protocol level 4 (3.1.1), no
// will, no username or password.
func AppendConnect(b []byte, clientID string, keepAlive uint16, cleanSession bool) []byte {
	return AppendConnectLogin(b, clientID, keepAlive, cleanSession, "", "")
}

// AppendConnectLogin is AppendConnect with a username and password, each
// written only when not empty (a password needs a username,
// [MQTT-3.1.2-22]); the payload order is client id, username, password
// (section 3.1.3).
func AppendConnectLogin(b []byte, clientID string, keepAlive uint16, cleanSession bool, username, password string) []byte {
	var flags byte
	if cleanSession {
		flags |= 0x02 // section 3.1.2.4
	}
	n := 10 + 2 + len(clientID)
	if username != "" {
		flags |= 0x80 // section 3.1.2.8
		n += 2 + len(username)
		if password != "" {
			flags |= 0x40 // section 3.1.2.9
			n += 2 + len(password)
		}
	}
	b = append(b, byte(CONNECT)<<4)
	b = appendRemaining(b, n)
	b = appendString(b, "MQTT")
	b = append(b, 4, flags)
	b = binary.BigEndian.AppendUint16(b, keepAlive)
	b = appendString(b, clientID)
	if flags&0x80 != 0 {
		b = appendString(b, username)
	}
	if flags&0x40 != 0 {
		b = appendString(b, password)
	}
	return b
}

// AppendSubscribe appends a SUBSCRIBE packet for one topic filter.
// [MQTT-3.8.1-1] the fixed header flags are 0010.
func AppendSubscribe(b []byte, packetID uint16, filter string, qos byte) []byte {
	b = append(b, byte(SUBSCRIBE)<<4|0x02)
	b = appendRemaining(b, 2+2+len(filter)+1)
	b = binary.BigEndian.AppendUint16(b, packetID)
	b = appendString(b, filter)
	return append(b, qos)
}

// AppendPublish appends a PUBLISH packet. packetID is written only for
// qos > 0 (section 3.3.2.2).
func AppendPublish(b []byte, topic string, qos byte, dup bool, packetID uint16, payload []byte) []byte {
	h := byte(PUBLISH)<<4 | qos<<1
	if dup {
		h |= 0x08
	}
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, h)
	b = appendRemaining(b, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, packetID)
	}
	return append(b, payload...)
}

// AppendPubAck appends a PUBACK for packetID.
func AppendPubAck(b []byte, packetID uint16) []byte {
	return append(b, byte(PUBACK)<<4, 2, byte(packetID>>8), byte(packetID))
}

// AppendPubRec, AppendPubRel and AppendPubComp append the three packets of
// the QoS 2 exchange after a PUBLISH (section 4.3.3). PUBREL's fixed-header
// flags are 0010 [MQTT-3.6.1-1].
func AppendPubRec(b []byte, packetID uint16) []byte {
	return append(b, byte(PUBREC)<<4, 2, byte(packetID>>8), byte(packetID))
}

// AppendPubRel: see AppendPubRec.
func AppendPubRel(b []byte, packetID uint16) []byte {
	return append(b, byte(PUBREL)<<4|0x02, 2, byte(packetID>>8), byte(packetID))
}

// AppendPubComp: see AppendPubRec.
func AppendPubComp(b []byte, packetID uint16) []byte {
	return append(b, byte(PUBCOMP)<<4, 2, byte(packetID>>8), byte(packetID))
}

// AppendPingReq appends a PINGREQ.
func AppendPingReq(b []byte) []byte { return append(b, byte(PINGREQ)<<4, 0) }

// AppendDisconnect appends a DISCONNECT.
func AppendDisconnect(b []byte) []byte { return append(b, byte(DISCONNECT)<<4, 0) }

// Read reads one packet from r. The body is read into buf, grown if it is too
// small, and Header.Body aliases it: it is valid until the next Read with the
// same buf. The (possibly grown) buffer is returned for reuse.
func Read(r *bufio.Reader, buf []byte) (Header, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return Header{}, buf, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return Header{}, buf, ErrRemainTooLong
		}
		d, err := r.ReadByte()
		if err != nil {
			return Header{}, buf, fmt.Errorf("read remaining length: %w", err)
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		mul *= 128
	}
	if n > maxRemainLen {
		return Header{}, buf, ErrRemainTooLong
	}
	if cap(buf) < n {
		buf = make([]byte, n, n+n/2)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, buf, fmt.Errorf("read %d-byte body: %w", n, err)
	}
	return Header{Type: Type(first >> 4), Flags: first & 0x0f, Body: body}, buf, nil
}

// ConnAck is a decoded CONNACK variable header (section 3.2.2).
type ConnAck struct {
	SessionPresent bool
	ReturnCode     byte
}

// ParseConnAck decodes a CONNACK body.
func ParseConnAck(body []byte) (ConnAck, error) {
	if len(body) != 2 {
		return ConnAck{}, fmt.Errorf("CONNACK remaining length %d, want 2: %w", len(body), ErrMalformed)
	}
	return ConnAck{SessionPresent: body[0]&1 == 1, ReturnCode: body[1]}, nil
}

// ParseSubAck decodes a SUBACK body into its packet id and return codes.
func ParseSubAck(body []byte) (uint16, []byte, error) {
	if len(body) < 3 {
		return 0, nil, fmt.Errorf("SUBACK remaining length %d, want >= 3: %w", len(body), ErrMalformed)
	}
	return binary.BigEndian.Uint16(body), body[2:], nil
}

// ParsePubAck decodes a PUBACK body into its packet id; PUBREC, PUBREL and
// PUBCOMP bodies have the same form.
func ParsePubAck(body []byte) (uint16, error) {
	if len(body) != 2 {
		return 0, fmt.Errorf("PUBACK remaining length %d, want 2: %w", len(body), ErrMalformed)
	}
	return binary.BigEndian.Uint16(body), nil
}

// Publish is a decoded PUBLISH; Topic and Payload alias the packet body.
type Publish struct {
	Topic    []byte
	QoS      byte
	Dup      bool
	Retain   bool
	PacketID uint16
	Payload  []byte
}

// ParsePublish decodes a PUBLISH from its fixed-header flags and body.
func ParsePublish(flags byte, body []byte) (Publish, error) {
	p := Publish{QoS: flags >> 1 & 3, Dup: flags&0x08 != 0, Retain: flags&1 != 0}
	if p.QoS == 3 {
		return p, fmt.Errorf("PUBLISH QoS 3: %w", ErrMalformed) // [MQTT-3.3.1-4]
	}
	if len(body) < 2 {
		return p, fmt.Errorf("PUBLISH topic length missing: %w", ErrMalformed)
	}
	tl := int(binary.BigEndian.Uint16(body))
	rest := body[2:]
	if len(rest) < tl {
		return p, fmt.Errorf("PUBLISH topic length %d exceeds body: %w", tl, ErrMalformed)
	}
	p.Topic, rest = rest[:tl], rest[tl:]
	if p.QoS > 0 {
		if len(rest) < 2 {
			return p, fmt.Errorf("PUBLISH packet id missing: %w", ErrMalformed)
		}
		p.PacketID, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	p.Payload = rest
	return p, nil
}
