package broker

import (
	"testing"
	"unsafe"
)

// TestClientStructStaysInTheSizeClass guards the memory of every idle
// connection (issue 13, docs/decisions/0041 and 0042): the runtime rounds
// an allocation up to its size class, and an object over 512 bytes that
// holds pointers also carries an 8-byte header, so a client struct of 513
// bytes costs 640, 128 bytes more for each of a fleet's parked connections.
// It is 352 now, itself a class: 353 bytes cost 384 (docs/decisions/0049;
// 384 in 0048, 480 in 0042). A field added here must be paid for by moving
// another out of the long-lived struct (into clientRare, made on first use,
// or held only while the reader runs).
func TestClientStructStaysInTheSizeClass(t *testing.T) {
	const class, next = 352, 384
	if got := unsafe.Sizeof(client{}); got > class {
		t.Errorf("client struct is %d bytes, over the %d-byte size class: every idle connection pays %d bytes or more (see docs/decisions/0049)",
			got, class, next-class)
	}
}

// TestEntryStaysInTheSizeClass: a session entry (the session by value and
// the broker's fields) is one 144-byte object per session, connected or
// not (docs/decisions/0042, 0048: what only an offline session needs is in
// offlineState, the session's messages in session.traffic, its journal in
// its Limits). Past 144 it costs 160.
func TestEntryStaysInTheSizeClass(t *testing.T) {
	const class = 144
	if got := unsafe.Sizeof(entry{}); got > class {
		t.Errorf("entry is %d bytes, over the %d-byte size class: every session pays for the next class (see docs/decisions/0048)", got, class)
	}
}
