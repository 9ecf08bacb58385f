package packets

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hx decodes hex written with spaces, e.g. "10 0E 00 04".
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// hexFile reads a testdata fixture: hex bytes, with '#' starting a comment.
func hexFile(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		sb.WriteString(line)
		sb.WriteByte(' ')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return hx(t, sb.String())
}

// decodeAll decodes a whole packet, fixed header included, and insists that the
// header's remaining length covers the rest of b exactly.
func decodeAll(b []byte, v byte) (Packet, error) {
	h, n, err := DecodeFixedHeader(b)
	if err != nil {
		return nil, err
	}
	if n+h.Remaining > len(b) {
		return nil, ErrShortBuffer
	}
	return Decode(h, b[n:n+h.Remaining], v)
}

// present returns a Properties.Present mask with the given ids set.
func present(ids ...PropID) uint64 {
	var m uint64
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got % X\nwant % X", what, got, want)
	}
}
