package session

import (
	"reflect"
	"testing"
)

// A forward batch gives back its entries in order; every truncation or
// trailing byte is refused, never a panic; an envelope (version 1) is not
// a batch.
func TestForwardBatchRoundTrip(t *testing.T) {
	data := [][]byte{{1, 'a'}, {}, []byte("a longer entry")}
	b := AppendForwardBatch(nil, data)
	if !IsForwardBatch(b) || IsForwardBatch([]byte{1, 0}) || IsForwardBatch(nil) {
		t.Fatal("IsForwardBatch tells batches from envelopes by the first byte")
	}
	got, err := SplitForwardBatch(b)
	if err != nil || len(got) != len(data) {
		t.Fatalf("split %v, %v", got, err)
	}
	for i := range data {
		if !reflect.DeepEqual(append([]byte{}, got[i]...), append([]byte{}, data[i]...)) {
			t.Fatalf("entry %d: %q, want %q", i, got[i], data[i])
		}
	}
	for i := range b {
		if _, err := SplitForwardBatch(b[:i]); err == nil {
			t.Fatalf("truncated at %d of %d: accepted", i, len(b))
		}
	}
	if _, err := SplitForwardBatch(append(b, 0)); err == nil {
		t.Fatal("a trailing byte was accepted")
	}
}

func FuzzSplitForwardBatch(f *testing.F) {
	f.Add(AppendForwardBatch(nil, [][]byte{{1}, {2, 3}}))
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := SplitForwardBatch(b)
		if err != nil {
			return
		}
		// Lengths may be non-minimal varints: the entries, not the bytes,
		// come back.
		again, err := SplitForwardBatch(AppendForwardBatch(nil, entries))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("%x split, packed and split again: %d entries of %d (%v)", b, len(again), len(entries), err)
		}
		for i := range entries {
			if string(again[i]) != string(entries[i]) {
				t.Fatalf("%x: entry %d %x came back %x", b, i, entries[i], again[i])
			}
		}
	})
}
