package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// Retained messages: put with every field, replaced under their topic,
// deleted; deleting a topic with none is no error.
func retained(t *testing.T, h Harness) {
	o := open(t, h)
	full := message(7, "r/1")
	o.commit(putRetained(full), putRetained(&session.Message{Topic: "r/2", Payload: []byte("old"), Retain: true}))
	replacement := &session.Message{Topic: "r/2", Payload: []byte("new"), QoS: 1, Retain: true}
	o.commit(putRetained(replacement), putRetained(&session.Message{Topic: "r/3", Payload: []byte("cleared")}))
	o.commit(deleteRetained("r/3"), deleteRetained("r/none"))
	snap := o.load()
	slices.SortFunc(snap.Retained, func(a, b session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	if len(snap.Retained) != 2 {
		t.Fatalf("%d retained messages, want 2 (r/1, r/2)", len(snap.Retained))
	}
	if !reflect.DeepEqual(&snap.Retained[0], full) {
		t.Fatalf("r/1 loaded as %s, want %s", showMessage(&snap.Retained[0]), showMessage(full))
	}
	if !reflect.DeepEqual(&snap.Retained[1], replacement) {
		t.Fatalf("r/2 loaded as %s, want the replacement %s", showMessage(&snap.Retained[1]), showMessage(replacement))
	}
	o.commit(deleteRetained("r/1"), deleteRetained("r/2"))
	if snap := o.load(); len(snap.Retained) != 0 {
		t.Fatalf("%d retained messages after deleting all, want none", len(snap.Retained))
	}
}

// A Commit that fails applies none of its ops, the ones before the fault
// included; an earlier Commit stays whole.
func commitIsAtomic(t *testing.T, h Harness) {
	o := open(t, h)
	before := record("before")
	o.commit(putSession(before), putRetained(message(1, "r/kept")))
	bad := minimal("bad")
	bad.Version = session.FormatVersion + 1
	m := message(2, "a")
	ops := []session.Op{
		putSession(minimal("c1")), putMessage(m), putDelivery("c1", queued(1, m)), putInbound("c1", 1),
		putDelivery("before", queued(1, m)), putInbound("before", 2), putRetained(message(3, "r/new")),
		deleteRetained("r/kept"), deleteSessionOp("before"), putSession(bad), putSession(minimal("c2")),
	}
	if err := o.s.Commit(ops); !errors.Is(err, session.ErrUnknownVersion) {
		t.Fatalf("Commit holding a record of version %d: %v, want ErrUnknownVersion", bad.Version, err)
	}
	snap := o.load()
	if got := ids(snap); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("after a failed Commit: sessions %v, want only before", got)
	}
	sameRecord(t, "before, untouched by the failed Commit", loaded(t, snap, "before"), before)
	if len(snap.Retained) != 1 || snap.Retained[0].Topic != "r/kept" {
		t.Fatalf("after a failed Commit: %d retained (%v), want only r/kept", len(snap.Retained), snap.Retained)
	}
	// The store still takes commits.
	o.commit(putSession(minimal("after")))
	if got := ids(o.load()); !slices.Equal(got, []string{"after", "before"}) {
		t.Fatalf("after a failed Commit and a good one: sessions %v", got)
	}
}

func unknownVersionOnCommit(t *testing.T, h Harness) {
	o := open(t, h)
	for _, v := range []uint32{0, session.FormatVersion + 1, 1 << 31} {
		r := record("v")
		r.Version = v
		if err := o.s.Commit([]session.Op{putSession(r)}); !errors.Is(err, session.ErrUnknownVersion) {
			t.Fatalf("Commit of a record of version %d: %v, want ErrUnknownVersion", v, err)
		}
	}
	if snap := o.load(); len(snap.Sessions) != 0 {
		t.Fatal("a refused record was stored")
	}
}

// Data of a newer version fails Load, and stays for the binary that wrote
// it: a second Load fails the same way.
func unknownVersionOnLoad(t *testing.T, h Harness) {
	if h.PlantFuture == nil {
		t.Skip("the harness cannot write a newer format (Harness.PlantFuture)")
	}
	o := open(t, h)
	o.commit(putSession(record("known")))
	h.PlantFuture(t, o.s, "future")
	for range 2 {
		o.reopen()
		if _, err := o.s.Load(); !errors.Is(err, session.ErrUnknownVersion) {
			t.Fatalf("Load with a record of a newer version: %v, want ErrUnknownVersion", err)
		}
	}
}

func closeStore(t *testing.T, h Harness) {
	s := h.Open(t)
	if err := s.Commit([]session.Op{putSession(record("c"))}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	if err := s.Commit([]session.Op{putSession(record("d"))}); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if err := s.Commit(nil); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Commit of no ops after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Load(); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
}
