package packets

import (
	"io"
	"strconv"
)

// ReadPacket reads one whole packet from r and decodes it for version v (CONNECT
// carries its own). It is meant for clients, tools and tests; the broker frames its
// own reads. maxSize limits the whole packet, fixed header included; 0 means no
// limit, and a larger packet gives an *Error with Reason PacketTooLarge. The packet
// owns its buffer.
func ReadPacket(r io.Reader, v byte, maxSize int) (Packet, error) {
	var hb [5]byte
	n := 0
	var h FixedHeader
	var hl int
	for {
		if _, err := io.ReadFull(r, hb[n:n+1]); err != nil {
			if n > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n++
		var err error
		h, hl, err = DecodeFixedHeader(hb[:n])
		if err == nil {
			break
		}
		if err != ErrShortBuffer {
			return nil, err
		}
	}
	if maxSize > 0 && hl+h.Remaining > maxSize {
		return nil, reasonErr(PacketTooLarge, h.Type.String()+": packet of "+
			strconv.Itoa(hl+h.Remaining)+" bytes exceeds the maximum of "+strconv.Itoa(maxSize)+" (§3.1.2.11.4, §3.2.2.3.6)")
	}
	body := make([]byte, h.Remaining)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return Decode(h, body, v)
}
