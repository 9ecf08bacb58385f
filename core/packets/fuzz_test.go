package packets

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecode from the fixtures")

// fuzzVersion maps any byte to one of the protocol versions.
func fuzzVersion(v byte) byte {
	if v >= V31 && v <= V5 {
		return v
	}
	return V31 + v%3
}

// FuzzDecode checks that decoding never panics, fails only with *Error, and that
// for any input that decodes, encode∘decode∘encode is stable. It also checks that
// the hot-path Decode methods, reusing a value, agree with Decode.
func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(fx.v, fx.bytes(f))
	}
	f.Fuzz(func(t *testing.T, v byte, data []byte) {
		v = fuzzVersion(v)
		h, n, err := DecodeFixedHeader(data)
		if err != nil {
			return
		}
		if len(data)-n < h.Remaining {
			return
		}
		body := data[n : n+h.Remaining]
		p, err := Decode(h, body, v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("decode error is not an *Error: %v", err)
			}
			return
		}
		if c, ok := p.(*Connect); ok {
			v = c.ProtocolVersion
		}
		enc1 := p.Append(nil, v)
		p2, err := decodeAll(enc1, v)
		if err != nil {
			t.Fatalf("re-decode of % X (from % X, v%d): %v", enc1, data, v, err)
		}
		enc2 := p2.Append(nil, v)
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("encoding unstable (v%d):\n1: % X\n2: % X", v, enc1, enc2)
		}
		// The hot-path methods decode into a value left dirty by another packet.
		switch h.Type {
		case TypePublish:
			dirty := Publish{Topic: "x", PacketID: 9, Dup: true, Payload: []byte("old"),
				Properties: Properties{Present: 1<<PropUser | 1<<PropSessionExpiry, SessionExpiry: 5, User: []UserProperty{{"k", "v"}}}}
			if err := dirty.Decode(h, body, v); err != nil {
				t.Fatalf("Publish.Decode failed where Decode succeeded: %v", err)
			}
			if got := dirty.Append(nil, v); !bytes.Equal(got, enc1) {
				t.Fatalf("Publish.Decode into a used value:\n got % X\nwant % X", got, enc1)
			}
		case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
			dirty := Ack{Kind: TypePuback, PacketID: 9, Reason: QuotaExceeded,
				Properties: Properties{Present: 1 << PropReasonString, ReasonString: "old"}}
			if err := dirty.Decode(h, body, v); err != nil {
				t.Fatalf("Ack.Decode failed where Decode succeeded: %v", err)
			}
			if got := dirty.Append(nil, v); !bytes.Equal(got, enc1) {
				t.Fatalf("Ack.Decode into a used value:\n got % X\nwant % X", got, enc1)
			}
		}
	})
}

// corpusName turns a fixture name into a corpus file name.
func corpusName(name string) string {
	return "fixture-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
}

// corpusFile renders one FuzzDecode input in the format of `go test fuzz v1`.
func corpusFile(v byte, data []byte) string {
	return fmt.Sprintf("go test fuzz v1\nbyte(%s)\n[]byte(%s)\n", strconv.QuoteRune(rune(v)), strconv.Quote(string(data)))
}

// TestFuzzCorpusHasEveryFixture keeps the committed seed corpus in step with the
// fixtures and the malformed inputs; run with -update-corpus to rewrite it.
func TestFuzzCorpusHasEveryFixture(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	want := map[string]string{}
	for _, fx := range fixtures {
		want[corpusName(fx.name)] = corpusFile(fx.v, fx.bytes(t))
	}
	for _, m := range malformedInputs {
		want["malformed-"+corpusName(m.name)[len("fixture-"):]] = corpusFile(m.v, frame(t, m.in))
	}
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range want {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != content {
			t.Errorf("corpus file %s missing or stale; run go test -run TestFuzzCorpus -update-corpus", name)
		}
	}
}
