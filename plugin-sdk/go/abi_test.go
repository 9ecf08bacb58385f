package plume

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// The list example of ABI.md, section 7.
func TestPairsLayoutMatchesABI(t *testing.T) {
	want, _ := hex.DecodeString("02000000" + "01000000" + "61" + "01000000" + "31" + "02000000" + "6263" + "00000000")
	ps := []Pair{{"a", "1"}, {"bc", ""}}
	got := encodePairs(ps)
	if !bytes.Equal(got, want) {
		t.Fatalf("encodePairs = %x, want %x", got, want)
	}
	if back := decodePairs(got); !reflect.DeepEqual(back, ps) {
		t.Errorf("decodePairs = %v, want %v", back, ps)
	}
	for _, bad := range [][]byte{want[:3], want[:len(want)-1], {1, 0, 0, 0, 9, 0, 0, 0}} {
		if decodePairs(bad) != nil {
			t.Errorf("decodePairs(%x) accepted a malformed list", bad)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	b := make([]byte, headerSize)
	b[0], b[1], b[2], b[3], b[4] = 8, 5, flagRetain|flagDup, 1, 0
	copy(b[8:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	copy(b[16:], []byte{10, 0, 0, 0, 0, 1, 0, 0, 0x34, 0x12})
	h := decodeHeader(b)
	want := header{point: 8, protocol: 5, flags: flagRetain | flagDup, qos: 1, client: 0x0807060504030201,
		topicLen: 10, payloadLen: 256, packetID: 0x1234}
	if h != want {
		t.Errorf("decodeHeader = %+v, want %+v", h, want)
	}
}
