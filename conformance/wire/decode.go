package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every decoding error: the bytes do not form a
// packet of the declared type.
var ErrMalformed = errors.New("malformed packet")

// Violation is a rule that a decoded packet breaks although it could be
// parsed: a reserved flag set, a non-minimal length, an ill-formed string.
type Violation struct {
	Statement string // e.g. "MQTT-2.1.3-1" (5.0 numbering, or 3.1.1 where Version is 4)
	Msg       string
}

// Packet is a decoded packet. Which fields are set depends on Type.
type Packet struct {
	Type  byte
	Flags byte
	Body  []byte // the bytes after the fixed header
	Size  int    // the whole packet's size in bytes

	// PUBLISH
	Topic   string
	QoS     byte
	Retain  bool
	Dup     bool
	Payload []byte

	PacketID       uint16
	SessionPresent bool // CONNACK
	AckFlags       byte // CONNACK
	ReasonCode     byte // CONNACK return code, acks and DISCONNECT/AUTH (0 when absent)
	ReasonCodes    []byte
	Props          Properties

	Violations []Violation
}

func (p *Packet) String() string {
	switch p.Type {
	case PUBLISH:
		return fmt.Sprintf("PUBLISH(topic=%q qos=%d retain=%v dup=%v id=%d payload=%q)", p.Topic, p.QoS, p.Retain, p.Dup, p.PacketID, p.Payload)
	case CONNACK:
		return fmt.Sprintf("CONNACK(sp=%v rc=0x%02x)", p.SessionPresent, p.ReasonCode)
	case SUBACK, UNSUBACK:
		return fmt.Sprintf("%s(id=%d codes=% x)", TypeName(p.Type), p.PacketID, p.ReasonCodes)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return fmt.Sprintf("%s(id=%d rc=0x%02x)", TypeName(p.Type), p.PacketID, p.ReasonCode)
	case DISCONNECT, AUTH:
		return fmt.Sprintf("%s(rc=0x%02x)", TypeName(p.Type), p.ReasonCode)
	}
	return TypeName(p.Type)
}

func (p *Packet) violate(id, format string, a ...any) {
	p.Violations = append(p.Violations, Violation{Statement: id, Msg: fmt.Sprintf(format, a...)})
}

// readVarint decodes a variable byte integer from b.
func readVarint(b []byte) (uint32, int, error) {
	var v uint32
	mult := uint32(1)
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated variable byte integer", ErrMalformed)
		}
		v += uint32(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, fmt.Errorf("%w: variable byte integer longer than 4 bytes", ErrMalformed)
}

func readBinary(b []byte) ([]byte, []byte, error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated length prefix", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, fmt.Errorf("%w: length %d exceeds the %d bytes left", ErrMalformed, n, len(b)-2)
	}
	return b[2 : 2+n], b[2+n:], nil
}

// minimalLen reports whether n bytes is the minimal encoding of v.
func minimalLen(v uint32, n int) bool { return len(AppendVarint(nil, v)) == n }

// ReadPacket reads one packet from r and decodes it for the given version.
// An error wrapping ErrMalformed means the bytes arrived but do not parse;
// other errors come from r (io.EOF, a deadline).
func ReadPacket(r io.Reader, version byte) (*Packet, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	var lenBytes []byte
	var length uint32
	mult := uint32(1)
	for i := 0; ; i++ {
		if i == 4 {
			return nil, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
		}
		var c [1]byte
		if _, err := io.ReadFull(r, c[:]); err != nil {
			return nil, unexpected(err)
		}
		lenBytes = append(lenBytes, c[0])
		length += uint32(c[0]&0x7f) * mult
		mult *= 128
		if c[0]&0x80 == 0 {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpected(err)
	}
	p, err := Decode(version, hdr[0], body)
	if err != nil {
		return nil, err
	}
	p.Size = 1 + len(lenBytes) + len(body)
	if !minimalLen(length, len(lenBytes)) {
		p.violate(pick(version, "MQTT-1.5.5-1", ""), "remaining length %d encoded in %d bytes", length, len(lenBytes))
	}
	return p, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func pick(version byte, v5, v4 string) string {
	if version >= 5 {
		return v5
	}
	return v4
}

// Decode decodes a packet body given its first header byte.
func Decode(version byte, first byte, body []byte) (*Packet, error) {
	p := &Packet{Type: first >> 4, Flags: first & 0x0f, Body: body}
	reserved := map[byte]byte{CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBACK: 0,
		UNSUBACK: 0, PINGRESP: 0, DISCONNECT: 0, AUTH: 0, CONNECT: 0, SUBSCRIBE: 2, UNSUBSCRIBE: 2, PINGREQ: 0}
	if want, ok := reserved[p.Type]; ok && p.Flags != want {
		p.violate(pick(version, "MQTT-2.1.3-1", "MQTT-2.2.2-1"), "%s has flags 0x%x, want 0x%x", TypeName(p.Type), p.Flags, want)
	}
	var err error
	switch p.Type {
	case PUBLISH:
		err = p.decodePublish(version)
	case CONNACK:
		err = p.decodeConnack(version)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		err = p.decodeAck(version)
	case SUBACK, UNSUBACK:
		err = p.decodeSuback(version)
	case PINGRESP, PINGREQ:
		if len(body) != 0 {
			err = fmt.Errorf("%w: %s with %d body bytes", ErrMalformed, TypeName(p.Type), len(body))
		}
	case DISCONNECT, AUTH:
		err = p.decodeDisconnect(version)
	case 0:
		err = fmt.Errorf("%w: reserved packet type 0", ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TypeName(p.Type), err)
	}
	p.checkStrings(version)
	return p, nil
}

func (p *Packet) decodePublish(version byte) error {
	p.Dup, p.QoS, p.Retain = p.Flags&0x08 != 0, (p.Flags>>1)&0x03, p.Flags&0x01 != 0
	if p.QoS == 3 {
		return fmt.Errorf("%w: QoS 3", ErrMalformed)
	}
	if p.QoS == 0 && p.Dup {
		p.violate("MQTT-3.3.1-2", "QoS 0 PUBLISH with DUP set")
	}
	t, rest, err := readBinary(p.Body)
	if err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	p.Topic = string(t)
	if strings.ContainsAny(p.Topic, "+#") {
		p.violate("MQTT-3.3.2-2", "topic name %q contains a wildcard", p.Topic)
	}
	if p.QoS > 0 {
		if len(rest) < 2 {
			return fmt.Errorf("%w: no packet identifier", ErrMalformed)
		}
		p.PacketID, rest = binary.BigEndian.Uint16(rest), rest[2:]
		if p.PacketID == 0 {
			p.violate(pick(version, "MQTT-2.2.1-4", "MQTT-2.3.1-1"), "QoS %d PUBLISH with packet identifier 0", p.QoS)
		}
	}
	if version >= 5 {
		ps, n, err := decodeProps(rest)
		if err != nil {
			return err
		}
		p.Props, rest = ps, rest[n:]
	}
	p.Payload = rest
	return nil
}

func (p *Packet) decodeConnack(version byte) error {
	if len(p.Body) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(p.Body))
	}
	p.AckFlags, p.ReasonCode = p.Body[0], p.Body[1]
	p.SessionPresent = p.AckFlags&1 != 0
	if p.AckFlags&0xfe != 0 {
		p.violate(pick(version, "MQTT-3.2.2-1", ""), "connect acknowledge flags 0x%02x have reserved bits set", p.AckFlags)
	}
	if version < 5 {
		if len(p.Body) != 2 {
			return fmt.Errorf("%w: 3.1.1 CONNACK of %d bytes", ErrMalformed, len(p.Body))
		}
		return nil
	}
	if len(p.Body) == 2 {
		// A 3.1.1-shaped CONNACK: what a broker may send when it refuses a
		// protocol version it does not know.
		return nil
	}
	ps, n, err := decodeProps(p.Body[2:])
	if err != nil {
		return err
	}
	if 2+n != len(p.Body) {
		return fmt.Errorf("%w: %d bytes after the properties", ErrMalformed, len(p.Body)-2-n)
	}
	p.Props = ps
	return nil
}

func (p *Packet) decodeAck(version byte) error {
	if len(p.Body) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(p.Body))
	}
	p.PacketID = binary.BigEndian.Uint16(p.Body)
	rest := p.Body[2:]
	if version < 5 {
		if len(rest) != 0 {
			return fmt.Errorf("%w: 3.1.1 acknowledgement of %d bytes", ErrMalformed, len(p.Body))
		}
		return nil
	}
	if len(rest) == 0 {
		return nil
	}
	p.ReasonCode, rest = rest[0], rest[1:]
	if len(rest) == 0 {
		return nil
	}
	ps, n, err := decodeProps(rest)
	if err != nil {
		return err
	}
	if n != len(rest) {
		return fmt.Errorf("%w: %d bytes after the properties", ErrMalformed, len(rest)-n)
	}
	p.Props = ps
	return nil
}

func (p *Packet) decodeSuback(version byte) error {
	if len(p.Body) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(p.Body))
	}
	p.PacketID = binary.BigEndian.Uint16(p.Body)
	rest := p.Body[2:]
	if version >= 5 {
		ps, n, err := decodeProps(rest)
		if err != nil {
			return err
		}
		p.Props, rest = ps, rest[n:]
	}
	p.ReasonCodes = append([]byte(nil), rest...)
	return nil
}

func (p *Packet) decodeDisconnect(version byte) error {
	if version < 5 {
		if len(p.Body) != 0 {
			return fmt.Errorf("%w: 3.1.1 DISCONNECT with %d body bytes", ErrMalformed, len(p.Body))
		}
		return nil
	}
	if len(p.Body) == 0 {
		return nil
	}
	p.ReasonCode = p.Body[0]
	if len(p.Body) == 1 {
		return nil
	}
	ps, n, err := decodeProps(p.Body[1:])
	if err != nil {
		return err
	}
	if 1+n != len(p.Body) {
		return fmt.Errorf("%w: %d bytes after the properties", ErrMalformed, len(p.Body)-1-n)
	}
	p.Props = ps
	return nil
}

// checkStrings records ill-formed UTF-8 in the strings a broker sent.
func (p *Packet) checkStrings(version byte) {
	check := func(what, s string) {
		if !utf8.ValidString(s) {
			p.violate(pick(version, "MQTT-1.5.4-1", "MQTT-1.5.3-1"), "%s is not well-formed UTF-8", what)
		}
		if strings.ContainsRune(s, 0) {
			p.violate(pick(version, "MQTT-1.5.4-2", "MQTT-1.5.3-2"), "%s contains U+0000", what)
		}
	}
	if p.Type == PUBLISH {
		check("topic name", p.Topic)
	}
	for _, pr := range p.Props {
		if k := propKinds[pr.ID]; k == kString || k == kPair {
			check(fmt.Sprintf("property 0x%02x", pr.ID), pr.Str)
			check("user property name", pr.Key)
		}
	}
}
