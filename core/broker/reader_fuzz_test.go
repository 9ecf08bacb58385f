package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/packets"
)

// chunkConn serves data in the chunk sizes the fuzzer chose, with a read
// deadline error before every other chunk: a reader must frame the stream the
// same however it arrives and however often its reads time out.
type chunkConn struct {
	net.Conn // nil: only Read is used
	data     []byte
	sizes    []byte
	timeout  bool
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.timeout = !c.timeout
	if c.timeout {
		return 0, os.ErrDeadlineExceeded
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = int(c.sizes[0])%512 + 1
		c.sizes = c.sizes[1:]
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// frame is one packet as a reference framer sees it.
type frame struct {
	typ  packets.Type
	body []byte
}

// referenceFrames splits a whole stream into packets without any reader state.
func referenceFrames(data []byte, limit uint32) (out []frame, err error) {
	for len(data) > 0 {
		h, n, err := packets.DecodeFixedHeader(data)
		if err != nil {
			return out, err
		}
		if uint64(n)+uint64(h.Remaining) > uint64(limit) {
			return out, errPacketTooLarge
		}
		if n+h.Remaining > len(data) {
			return out, io.ErrUnexpectedEOF
		}
		out = append(out, frame{h.Type, data[n : n+h.Remaining]})
		data = data[n+h.Remaining:]
	}
	return out, nil
}

func FuzzReaderFraming(f *testing.F) {
	pub := (&packets.Publish{Topic: "a/b", Payload: bytes.Repeat([]byte{0xC0, 0x00}, 20000)}).Append(nil, packets.V5)
	f.Add(append(pub, 0xC0, 0x00), []byte{1, 200, 7, 255})
	f.Add([]byte{0x30, 0xC0, 0x84, 0x3D, 0x00}, []byte{0})
	f.Add([]byte{0xC0, 0x00, 0xE0, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		const limit = 64 << 10
		want, wantErr := referenceFrames(data, limit)
		partials := budget.New(1 << 20)
		rd := newReader(&chunkConn{data: data, sizes: sizes})
		var got []frame
		var err error
		for calls := 0; ; calls++ {
			if calls > 4*len(data)+16 {
				t.Fatalf("no end after %d calls: the reader does not progress", calls)
			}
			var h packets.FixedHeader
			var body []byte
			h, body, err = rd.next(limit, partials)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // what serve does while the client makes progress
			}
			if err != nil {
				break
			}
			got = append(got, frame{h.Type, bytes.Clone(body)})
		}
		rd.release()
		if len(got) != len(want) {
			t.Fatalf("framed %d packets, want %d (err %v, reference err %v)", len(got), len(want), err, wantErr)
		}
		for i := range got {
			if got[i].typ != want[i].typ || !bytes.Equal(got[i].body, want[i].body) {
				t.Fatalf("packet %d differs: %v %d bytes, want %v %d bytes", i, got[i].typ, len(got[i].body), want[i].typ, len(want[i].body))
			}
		}
		if wantErr == nil && err != io.EOF {
			t.Fatalf("stream of whole packets ended with %v, want EOF", err)
		}
		if errors.Is(wantErr, errPacketTooLarge) && !errors.Is(err, errPacketTooLarge) {
			t.Fatalf("oversized packet ended with %v", err)
		}
		if used := partials.Used(); used != 0 {
			t.Fatalf("%d budget bytes not given back", used)
		}
	})
}
