package packets

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestReadPacketReadsPacketsInTurn(t *testing.T) {
	var stream []byte
	var want []Packet
	for _, f := range fixtures {
		if f.v == V5 && f.wire[0] != '@' {
			stream = append(stream, f.bytes(t)...)
			want = append(want, f.pkt)
		}
	}
	r := bytes.NewReader(stream)
	for i, w := range want {
		got, err := ReadPacket(r, V5, 0)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("packet %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if _, err := ReadPacket(r, V5, 0); err != io.EOF {
		t.Fatalf("after the last packet: got %v, want io.EOF", err)
	}
}

func TestReadPacketErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		maxSize int
		reason  ReasonCode // 0: want wantErr
		wantErr error
	}{
		{"packet larger than the maximum", "30 07 00 03 61 2F 62 68 69", 8, PacketTooLarge, nil},
		{"packet exactly the maximum", "30 07 00 03 61 2F 62 68 69", 9, 0, nil},
		{"stream ends inside the header", "30 80", 0, 0, io.ErrUnexpectedEOF},
		{"stream ends inside the body", "30 07 00 03 61", 0, 0, io.ErrUnexpectedEOF},
		{"malformed header", "00 00", 0, MalformedPacket, nil},
		{"malformed body", "30 02 00 05", 0, MalformedPacket, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPacket(bytes.NewReader(hx(t, tt.in)), V311, tt.maxSize)
			var e *Error
			switch {
			case tt.reason != 0:
				if !errors.As(err, &e) || e.Reason != tt.reason {
					t.Fatalf("got %v, want reason %v", err, tt.reason)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}

func TestEncodedLenMatchesAppend(t *testing.T) {
	for _, f := range fixtures {
		if got, want := EncodedLen(f.pkt, f.v), len(f.pkt.Append(nil, f.v)); got != want {
			t.Errorf("%s: EncodedLen %d, Append wrote %d", f.name, got, want)
		}
	}
	p := benchPublish(true)
	if n := testing.AllocsPerRun(100, func() { EncodedLen(p, V5) }); n != 0 {
		t.Errorf("EncodedLen(PUBLISH) allocates %v times", n)
	}
}
