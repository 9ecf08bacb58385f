package packets

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// maxVarint is the largest value a variable byte integer can hold (§1.5.5).
const maxVarint = 268_435_455

// reader walks a packet body. pkt names the packet in error messages.
type reader struct {
	b   []byte
	i   int
	pkt string
}

func (r *reader) malformed(msg string) error { return malformed(r.pkt + ": " + msg) }
func (r *reader) protocol(msg string) error  { return protocolErr(r.pkt + ": " + msg) }

func (r *reader) left() int { return len(r.b) - r.i }

func (r *reader) short(field string) error {
	return r.malformed(field + " runs past the end of the packet (§1.5)")
}

func (r *reader) byte(field string) (byte, error) {
	if r.i >= len(r.b) {
		return 0, r.short(field)
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *reader) u16(field string) (uint16, error) {
	if r.left() < 2 {
		return 0, r.short(field)
	}
	x := uint16(r.b[r.i])<<8 | uint16(r.b[r.i+1])
	r.i += 2
	return x, nil
}

func (r *reader) u32(field string) (uint32, error) {
	if r.left() < 4 {
		return 0, r.short(field)
	}
	b := r.b[r.i:]
	r.i += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

// varint reads a variable byte integer of at most four bytes (§1.5.5). A value
// encoded in more bytes than needed is accepted.
func (r *reader) varint(field string) (int, error) {
	x, n := parseVarint(r.b[r.i:])
	switch {
	case n == 0:
		return 0, r.short(field)
	case n < 0:
		return 0, r.malformed(field + " is a variable byte integer longer than 4 bytes [MQTT-1.5.5-1]")
	}
	r.i += n
	return x, nil
}

// parseVarint decodes a variable byte integer from the start of b. It returns the
// value and the bytes used; n == 0 if b ends first, n < 0 if it exceeds four bytes.
func parseVarint(b []byte) (x, n int) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0
		}
		x |= int(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return x, i + 1
		}
	}
	return 0, -1
}

// bin reads Binary Data: a two-byte length and that many bytes (§1.5.6).
// The result aliases the packet.
func (r *reader) bin(field string) ([]byte, error) {
	if r.left() < 2 {
		return nil, r.short(field + " length")
	}
	n := int(r.b[r.i])<<8 | int(r.b[r.i+1])
	r.i += 2
	if n > r.left() {
		return nil, r.short(field)
	}
	b := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return b, nil
}

// str reads a UTF-8 Encoded String (§1.5.4). The result aliases the packet.
func (r *reader) str(field string) (string, error) {
	b, err := r.bin(field)
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		// [MQTT-1.5.4-1] well-formed UTF-8, no surrogates; [MQTT-1.5.4-2] no U+0000.
		return "", r.malformed(field + " is not well-formed UTF-8 or contains U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2]")
	}
	return bytesToString(b), nil
}

// validUTF8 reports whether b is well-formed UTF-8 without U+0000.
func validUTF8(b []byte) bool {
	return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// bytesToString returns a string that shares b's memory; b must not change afterwards.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// varintLen returns how many bytes appendVarint writes for x.
func varintLen(x int) int {
	switch {
	case x < 128:
		return 1
	case x < 16_384:
		return 2
	case x < 2_097_152:
		return 3
	}
	return 4
}

// appendVarint appends x as a variable byte integer in its shortest form.
func appendVarint(dst []byte, x int) []byte {
	for {
		c := byte(x & 0x7F)
		x >>= 7
		if x == 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

func appendU16(dst []byte, x uint16) []byte { return append(dst, byte(x>>8), byte(x)) }

func appendString(dst []byte, s string) []byte {
	return append(appendU16(dst, uint16(len(s))), s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	return append(appendU16(dst, uint16(len(b))), b...)
}

// appendHeader appends a fixed header.
func appendHeader(dst []byte, t Type, flags byte, remaining int) []byte {
	return appendVarint(append(dst, byte(t)<<4|flags), remaining)
}

// grow makes sure dst has room for n more bytes, so that the appends that follow
// allocate at most once.
func grow(dst []byte, n int) []byte {
	// slices.Grow grows geometrically: callers append many packets to one
	// buffer, and exact-size growth would copy it once per packet.
	return slices.Grow(dst, n)
}

// hasWildcard reports whether a topic name contains + or #.
func hasWildcard(s string) bool {
	return strings.IndexByte(s, '+') >= 0 || strings.IndexByte(s, '#') >= 0
}

func hexStr(x int) string { return strconv.FormatInt(int64(x), 16) }
