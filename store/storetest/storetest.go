// Package storetest is the conformance suite for session.Store
// implementations: what the contract on session.Store says, checked. A store
// passes it from its own test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Open:   func(t *testing.T) session.Store { return open(t, t.TempDir()) },
//			Reopen: func(t *testing.T, s session.Store) session.Store { ...close s, open its dir again... },
//		})
//	}
//
// Every case reopens the store between its phases (write, reopen, load), so
// that a store keeping data on disk is checked on what it read back, not on
// what it still holds in memory.
package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// Harness makes the store under test.
type Harness struct {
	// Open returns a new, empty store. The suite closes what it opens.
	Open func(t *testing.T) session.Store
	// Reopen closes s and opens the same data again, as a broker restart
	// does; what Load returns then is what survived. A store whose data does
	// not outlive Close (session.MemoryStore) returns s itself.
	Reopen func(t *testing.T, s session.Store) session.Store
	// PlantFuture, if set, writes into s, in the store's own format, one
	// session record with id and a format version newer than
	// session.FormatVersion, as a newer broker would. Without it the
	// suite cannot check that Load refuses such data, and skips that case.
	PlantFuture func(t *testing.T, s session.Store, id string)
	// Clustered says the store keeps a cluster node's ops, Forward and
	// Position (decision 0055): the suite checks that it loads the last
	// position per shard. A single-node store must refuse them instead,
	// failing the whole Commit, and the suite checks that.
	Clustered bool
	// IngestSubject, for a clustered store, names a subject of its ingest
	// that a Forward may write to; "plume.in.1.t.a" when nil.
	IngestSubject func(s session.Store) string
}

// Run runs every case of the suite against the store h makes.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"EmptyStoreLoadsNothing", emptyStoreLoadsNothing},
		{"SessionRoundTrip", sessionRoundTrip},
		{"PutSessionReplacesOwnFieldsOnly", putSessionReplaces},
		{"DeliveriesSplitAndOrdered", deliveriesSplitAndOrdered},
		{"DeliveriesShareOneMessage", deliveriesShareOneMessage},
		{"PutDeliveryReplacesItsSeq", putDeliveryReplaces},
		{"DeleteDelivery", deleteDelivery},
		{"DeleteMessage", deleteMessage},
		{"DeleteSession", deleteSession},
		{"LeftoversAreNotReturned", leftoversNotReturned},
		{"InboundIDs", inboundIDs},
		{"OpsApplyInOrder", opsApplyInOrder},
		{"Retained", retained},
		{"CommitIsAtomic", commitIsAtomic},
		{"UnknownVersionIsRefusedOnCommit", unknownVersionOnCommit},
		{"UnknownVersionIsRefusedOnLoad", unknownVersionOnLoad},
		{"ManySessions", manySessions},
		{"ManyDeliveries", manyDeliveries},
		{"ClusterOps", clusterOps},
		{"Close", closeStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// opened is a store that is closed when the test ends; reopen swaps it.
type opened struct {
	t *testing.T
	h Harness
	s session.Store
}

func open(t *testing.T, h Harness) *opened {
	o := &opened{t: t, h: h, s: h.Open(t)}
	t.Cleanup(func() {
		if err := o.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return o
}

func (o *opened) reopen() { o.s = o.h.Reopen(o.t, o.s) }

// load reopens the store and loads it: every check reads what survived.
func (o *opened) load() session.Snapshot {
	o.t.Helper()
	o.reopen()
	snap, err := o.s.Load()
	if err != nil {
		o.t.Fatalf("Load: %v", err)
	}
	return snap
}

// commit commits ops and fails the test on an error.
func (o *opened) commit(ops ...session.Op) {
	o.t.Helper()
	if err := o.s.Commit(ops); err != nil {
		o.t.Fatalf("Commit of %s: %v", kinds(ops), err)
	}
}

func kinds(ops []session.Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(op.Kind.String())
	}
	return b.String()
}

// only returns the one session of snap, failing the test if there are others.
func only(t *testing.T, snap session.Snapshot, id string) session.Record {
	t.Helper()
	if len(snap.Sessions) != 1 || snap.Sessions[0].ID != id {
		t.Fatalf("loaded sessions %v, want only %s", ids(snap), id)
	}
	return snap.Sessions[0]
}

func ids(snap session.Snapshot) []string {
	var s []string
	for _, r := range snap.Sessions {
		s = append(s, r.ID)
	}
	slices.Sort(s)
	return s
}

// sameRecord fails the test with a readable account of what differs.
func sameRecord(t *testing.T, what string, got, want session.Record) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s:\n  got  %s\n  want %s", gv.Type().Field(i).Name, show(gv.Field(i)), show(wv.Field(i))))
		}
	}
	t.Fatalf("%s: the loaded record differs from the stored one:\n%s", what, strings.Join(diffs, "\n"))
}

// show prints a value with what its pointers point to.
func show(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case []session.Delivery:
		var parts []string
		for _, d := range x {
			parts = append(parts, showDelivery(d))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *session.Will:
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("&{Msg:%s PublishAt:%d}", showMessage(&x.Msg), x.PublishAt)
	}
	return fmt.Sprintf("%+v", v.Interface())
}

func showDelivery(d session.Delivery) string {
	c := d
	c.Msg = nil
	return fmt.Sprintf("{Msg:%s %+v}", showMessage(d.Msg), c)
}

func showMessage(m *session.Message) string {
	if m == nil {
		return "nil"
	}
	c := *m
	c.Props = nil
	s := fmt.Sprintf("%+v", c)
	if m.Props != nil {
		s += fmt.Sprintf(" Props:%+v", *m.Props)
	}
	return s
}
