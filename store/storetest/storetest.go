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
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/plumemq/plume/core/packets"
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
}

// Run runs every case of the suite against the store h makes.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"EmptyStoreLoadsNothing", emptyStoreLoadsNothing},
		{"SessionRoundTrip", sessionRoundTrip},
		{"SaveReplacesTheRecordOfItsID", saveReplaces},
		{"DeleteSession", deleteSession},
		{"ManySessions", manySessions},
		{"Retained", retained},
		{"UnknownVersionIsRefusedOnSave", unknownVersionOnSave},
		{"UnknownVersionIsRefusedOnLoad", unknownVersionOnLoad},
		{"ConcurrentCallsOnDistinctKeys", concurrentCalls},
		{"Close", closeStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// open opens a store that is closed when the test ends; reopen swaps it.
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

func (o *opened) load() session.Snapshot {
	o.t.Helper()
	snap, err := o.s.Load()
	if err != nil {
		o.t.Fatalf("Load: %v", err)
	}
	return snap
}

func (o *opened) must(what string, err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatalf("%s: %v", what, err)
	}
}

// fullRecord is a record with every field set, as a broker saves a busy
// session: an owner, a will, subscriptions with every option, deliveries in
// flight (one released QoS 2) and queued, with properties that travel.
func fullRecord(id string) session.Record {
	props := &packets.Properties{
		PayloadFormat: 1, ContentType: "application/json", ResponseTopic: "reply/" + id,
		CorrelationData: []byte{1, 2, 3}, MessageExpiry: 60,
		User: []packets.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "second"}},
	}
	props.Set(packets.PropPayloadFormat)
	props.Set(packets.PropContentType)
	props.Set(packets.PropResponseTopic)
	props.Set(packets.PropCorrelationData)
	props.Set(packets.PropMessageExpiry)
	msg := func(topic string, qos byte) *session.Message {
		return &session.Message{Topic: topic, Payload: []byte("payload of " + topic), QoS: qos, Props: props, Expires: 1_900_000_000_000_000_000, Publisher: "pub"}
	}
	return session.Record{
		Version:        session.FormatVersion,
		ID:             id,
		Owner:          session.Owner{Authenticated: true, Principal: "user-" + id},
		Expiry:         3600,
		DisconnectedAt: 1_700_000_000_000_000_000,
		Subscriptions: []session.Subscription{
			{Subscription: packets.Subscription{Filter: "a/+/c", QoS: 1}},
			{Subscription: packets.Subscription{Filter: "$share/g/x/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}, Identifier: 7},
		},
		Inflight: []session.Delivery{
			{Msg: msg("a/b/c", 1), QoS: 1, PacketID: 1, Dup: true, SubIDs: []uint32{7}},
			{Msg: msg("x/y", 2), QoS: 2, PacketID: 2, Released: true, Share: "$share/g/x/#"},
		},
		Queued:      []session.Delivery{{Msg: msg("a/q/c", 1), QoS: 1, Retain: true}, {Msg: msg("a/r/c", 0)}},
		InboundQoS2: []uint16{5, 9},
		Will:        &session.Will{Msg: *msg("will/"+id, 1), PublishAt: 1_700_000_000_500_000_000},
	}
}

func sessionsByID(snap session.Snapshot) map[string]session.Record {
	m := map[string]session.Record{}
	for _, r := range snap.Sessions {
		m[r.ID] = r
	}
	return m
}

func emptyStoreLoadsNothing(t *testing.T, h Harness) {
	o := open(t, h)
	if snap := o.load(); len(snap.Sessions) != 0 || len(snap.Retained) != 0 {
		t.Fatalf("a new store loads %d sessions and %d retained messages, want none", len(snap.Sessions), len(snap.Retained))
	}
}

func sessionRoundTrip(t *testing.T, h Harness) {
	o := open(t, h)
	want := fullRecord("c1")
	o.must("SaveSession", o.s.SaveSession(want))
	o.reopen()
	got, ok := sessionsByID(o.load())["c1"]
	if !ok {
		t.Fatal("the saved session is not loaded after reopen")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded record differs from the saved one:\n got %+v\nwant %+v", got, want)
	}
	// Order is part of the record: in-flight and queued deliveries are
	// resent in it when the client comes back.
	if got.Queued[0].Msg.Topic != "a/q/c" || got.Inflight[0].PacketID != 1 {
		t.Fatalf("deliveries out of order: %+v", got)
	}
}

func saveReplaces(t *testing.T, h Harness) {
	o := open(t, h)
	first := fullRecord("c1")
	o.must("SaveSession", o.s.SaveSession(first))
	second := session.Record{Version: session.FormatVersion, ID: "c1", Expiry: 10, DisconnectedAt: 1}
	o.must("SaveSession again", o.s.SaveSession(second))
	o.reopen()
	snap := o.load()
	if len(snap.Sessions) != 1 {
		t.Fatalf("%d records after saving one id twice, want 1", len(snap.Sessions))
	}
	if got := snap.Sessions[0]; got.Expiry != 10 || len(got.Queued) != 0 || got.Will != nil || got.Owner != (session.Owner{}) {
		t.Fatalf("loaded %+v, want the second save whole, nothing of the first", got)
	}
}

func deleteSession(t *testing.T, h Harness) {
	o := open(t, h)
	o.must("SaveSession", o.s.SaveSession(fullRecord("gone")))
	o.must("SaveSession", o.s.SaveSession(fullRecord("kept")))
	o.must("DeleteSession", o.s.DeleteSession("gone"))
	o.must("DeleteSession of an absent id", o.s.DeleteSession("never-saved"))
	o.reopen()
	got := sessionsByID(o.load())
	if _, ok := got["gone"]; ok || len(got) != 1 {
		t.Fatalf("after deleting gone: %d records (%v), want only kept", len(got), keys(got))
	}
	if !reflect.DeepEqual(got["kept"], fullRecord("kept")) {
		t.Fatal("deleting one session changed another")
	}
}

func manySessions(t *testing.T, h Harness) {
	o := open(t, h)
	const n = 200
	for i := range n {
		o.must("SaveSession", o.s.SaveSession(fullRecord(fmt.Sprintf("c%03d", i))))
	}
	for i := 0; i < n; i += 2 {
		o.must("DeleteSession", o.s.DeleteSession(fmt.Sprintf("c%03d", i)))
	}
	o.reopen()
	got := sessionsByID(o.load())
	if len(got) != n/2 {
		t.Fatalf("%d records, want %d", len(got), n/2)
	}
	for i := 1; i < n; i += 2 {
		id := fmt.Sprintf("c%03d", i)
		if !reflect.DeepEqual(got[id], fullRecord(id)) {
			t.Fatalf("record %s differs after reopen", id)
		}
	}
}

func retained(t *testing.T, h Harness) {
	o := open(t, h)
	m := fullRecord("x").Will.Msg
	m.Topic, m.Retain = "r/1", true
	o.must("SaveRetained", o.s.SaveRetained(m))
	replaced := session.Message{Topic: "r/2", Payload: []byte("old"), Retain: true}
	o.must("SaveRetained", o.s.SaveRetained(replaced))
	replaced.Payload = []byte("new")
	o.must("SaveRetained replacing", o.s.SaveRetained(replaced))
	o.must("SaveRetained", o.s.SaveRetained(session.Message{Topic: "r/3", Payload: []byte("cleared"), Retain: true}))
	o.must("DeleteRetained", o.s.DeleteRetained("r/3"))
	o.must("DeleteRetained of a topic with none", o.s.DeleteRetained("r/none"))
	o.reopen()
	snap := o.load()
	sort.Slice(snap.Retained, func(i, j int) bool { return snap.Retained[i].Topic < snap.Retained[j].Topic })
	if len(snap.Retained) != 2 {
		t.Fatalf("%d retained messages after reopen, want 2 (r/1, r/2)", len(snap.Retained))
	}
	if !reflect.DeepEqual(snap.Retained[0], m) {
		t.Fatalf("r/1 loaded as %+v, want %+v", snap.Retained[0], m)
	}
	if string(snap.Retained[1].Payload) != "new" {
		t.Fatalf("r/2 loaded with %q, want the replacement", snap.Retained[1].Payload)
	}
}

func unknownVersionOnSave(t *testing.T, h Harness) {
	o := open(t, h)
	for _, v := range []uint32{0, session.FormatVersion + 1} {
		r := fullRecord("v")
		r.Version = v
		if err := o.s.SaveSession(r); !errors.Is(err, session.ErrUnknownVersion) {
			t.Fatalf("SaveSession of version %d: %v, want ErrUnknownVersion", v, err)
		}
	}
	if snap := o.load(); len(snap.Sessions) != 0 {
		t.Fatal("a refused record was stored")
	}
}

func unknownVersionOnLoad(t *testing.T, h Harness) {
	if h.PlantFuture == nil {
		t.Skip("the harness cannot write a newer format (Harness.PlantFuture)")
	}
	o := open(t, h)
	o.must("SaveSession", o.s.SaveSession(fullRecord("known")))
	h.PlantFuture(t, o.s, "future")
	o.reopen()
	if _, err := o.s.Load(); !errors.Is(err, session.ErrUnknownVersion) {
		t.Fatalf("Load with a record of a newer version: %v, want ErrUnknownVersion", err)
	}
}

// concurrentCalls runs writers on distinct ids and topics at once, as
// connections ending together do; run it with -race.
func concurrentCalls(t *testing.T, h Harness) {
	o := open(t, h)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := o.s.SaveSession(fullRecord(id)); err != nil {
					errs <- err
					return
				}
				if err := o.s.SaveRetained(session.Message{Topic: "t/" + id, Payload: []byte(id), Retain: true}); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					if err := o.s.DeleteSession(id); err != nil {
						errs <- err
						return
					}
					if err := o.s.DeleteRetained("t/" + id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	o.reopen()
	snap := o.load()
	if want := writers * (each - each/5); len(snap.Sessions) != want || len(snap.Retained) != want {
		t.Fatalf("%d sessions and %d retained after concurrent writes, want %d of each", len(snap.Sessions), len(snap.Retained), want)
	}
}

func closeStore(t *testing.T, h Harness) {
	s := h.Open(t)
	if err := s.SaveSession(fullRecord("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	for name, err := range map[string]error{
		"SaveSession":    s.SaveSession(fullRecord("d")),
		"DeleteSession":  s.DeleteSession("c"),
		"SaveRetained":   s.SaveRetained(session.Message{Topic: "t", Payload: []byte("x")}),
		"DeleteRetained": s.DeleteRetained("t"),
	} {
		if !errors.Is(err, session.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.Load(); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
}

func keys(m map[string]session.Record) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
