package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The key layout (decision 0019). One byte says what a key holds:
//
//	"\x00plume"                        the marker: what wrote this database, in which layout
//	'm' id (8 bytes, big-endian)       a message, stored once, referred to by deliveries
//	'r' topic                          the retained message of a topic
//	'c' client 0x00 0x01 kind ...      everything of one client, contiguous:
//	    ... kindRecord                 its session record
//	    ... kindDelivery seq (8, BE)   a delivery, in Seq order
//	    ... kindInbound id (2, BE)     an inbound QoS 2 packet id
//
// Keeping a client's keys under one prefix lets Load read each session with
// its deliveries and inbound ids in one ordered pass, and lets DeleteSession
// be one range deletion instead of a tombstone per key. Client ids are
// escaped (0x00 as 0x00 0xFF) and ended by 0x00 0x01, so that no client's
// prefix is a prefix of another's ("a" and "a/b", "a" and "a\x00") and the
// span of one client is [prefix, prefix with its last byte 0x02).
const (
	prefixMarker   = 0x00
	prefixMessage  = 'm'
	prefixRetained = 'r'
	prefixClient   = 'c'

	kindRecord   = 1
	kindDelivery = 2
	kindInbound  = 3
)

var markerKey = []byte("\x00plume")

// span is a half-open key range [lo, hi).
type span struct{ lo, hi []byte }

var (
	messageSpan  = span{[]byte{prefixMessage}, []byte{prefixMessage + 1}}
	retainedSpan = span{[]byte{prefixRetained}, []byte{prefixRetained + 1}}
	clientsSpan  = span{[]byte{prefixClient}, []byte{prefixClient + 1}}
)

// appendClient appends 'c', client escaped and its terminator.
func appendClient(dst []byte, client string) []byte {
	dst = append(dst, prefixClient)
	for i := range len(client) {
		if c := client[i]; c == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

// clientSpan is every key of one client: record, deliveries, inbound ids.
func clientSpan(client string) span {
	lo := appendClient(nil, client)
	hi := bytes.Clone(lo)
	hi[len(hi)-1]++
	return span{lo, hi}
}

func recordKey(client string) []byte { return append(appendClient(nil, client), kindRecord) }

func deliveryKey(client string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(appendClient(nil, client), kindDelivery), seq)
}

func inboundKey(client string, id uint16) []byte {
	return binary.BigEndian.AppendUint16(append(appendClient(nil, client), kindInbound), id)
}

func messageKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixMessage}, id)
}

func retainedKey(topic string) []byte { return append([]byte{prefixRetained}, topic...) }

// clientKey is a key under 'c' taken apart: prefix is the key up to and
// including the client's terminator (the same bytes for every key of one
// client), kind what the key holds and rest what follows the kind.
type clientKey struct {
	prefix []byte
	kind   byte
	rest   []byte
}

// splitClientKey takes apart a key of the client span. The slices alias key.
func splitClientKey(key []byte) (clientKey, error) {
	if len(key) == 0 || key[0] != prefixClient {
		return clientKey{}, fmt.Errorf("key %q is not a client key: %w", key, ErrCorrupt)
	}
	for i := 1; i+1 < len(key); i++ {
		if key[i] != 0 {
			continue
		}
		switch key[i+1] {
		case 0xFF:
			i++ // an escaped 0x00 in the client id
		case 1:
			if i+2 >= len(key) {
				return clientKey{}, fmt.Errorf("client key %q has no kind: %w", key, ErrCorrupt)
			}
			return clientKey{prefix: key[:i+2], kind: key[i+2], rest: key[i+3:]}, nil
		default:
			return clientKey{}, fmt.Errorf("client key %q: bad escape: %w", key, ErrCorrupt)
		}
	}
	return clientKey{}, fmt.Errorf("client key %q is not terminated: %w", key, ErrCorrupt)
}

// client returns the client id of a prefix splitClientKey returned.
func (k clientKey) client() string {
	esc := k.prefix[1 : len(k.prefix)-2]
	if bytes.IndexByte(esc, 0) < 0 {
		return string(esc)
	}
	return string(bytes.ReplaceAll(esc, []byte{0, 0xFF}, []byte{0}))
}

// seq returns the Seq of a delivery key.
func (k clientKey) seq() (uint64, error) {
	if k.kind != kindDelivery || len(k.rest) != 8 {
		return 0, fmt.Errorf("delivery key of %q: %d bytes of sequence: %w", k.client(), len(k.rest), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k.rest), nil
}

// packetID returns the packet id of an inbound key.
func (k clientKey) packetID() (uint16, error) {
	if k.kind != kindInbound || len(k.rest) != 2 {
		return 0, fmt.Errorf("inbound key of %q: %d bytes of packet id: %w", k.client(), len(k.rest), ErrCorrupt)
	}
	return binary.BigEndian.Uint16(k.rest), nil
}

// messageID returns the id of a message key.
func messageID(key []byte) (uint64, error) {
	if len(key) != 9 || key[0] != prefixMessage {
		return 0, fmt.Errorf("message key %q: %w", key, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}
