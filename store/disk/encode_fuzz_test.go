package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// The decoders take bytes from disk: damaged ones must give an error, never
// a panic or a huge allocation, and whatever they accept must encode back
// to the same value. The seed corpus is in testdata/fuzz (regenerate it
// with PLUME_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus).

func seedRecords() [][]byte {
	full := session.Record{
		Version: codec.RecordVersion, ID: "c", Owner: session.Owner{Authenticated: true, Principal: "p"}, Expiry: 60, DisconnectedAt: -5,
		Subscriptions: []session.Subscription{{Subscription: packets.Subscription{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}, Identifier: 9}},
		Will:          &session.Will{Msg: *seedMessage(), PublishAt: 77},
	}
	a, _ := codec.AppendRecord(nil, &full)
	b, _ := codec.AppendRecord(nil, &session.Record{Version: codec.RecordVersion, ID: "m"})
	return [][]byte{a, b}
}

func seedMessage() *session.Message {
	p := &packets.Properties{PayloadFormat: 1, MessageExpiry: 3, ContentType: "ct", ResponseTopic: "rt", CorrelationData: []byte{0},
		User: []packets.UserProperty{{Key: "k", Value: "v"}}}
	p.Present = codec.StoredProps
	return &session.Message{Topic: "t", Payload: []byte("x"), QoS: 1, Retain: true, Props: p, Expires: 1, Publisher: "pub", ID: 4}
}

func seedMessages() [][]byte {
	a, _ := codec.AppendMessage(nil, seedMessage())
	b, _ := codec.AppendMessage(nil, &session.Message{Topic: "", ID: 1})
	return [][]byte{a, b}
}

func seedDeliveries() [][]byte {
	return [][]byte{
		codec.AppendDelivery(nil, &session.Delivery{Msg: &session.Message{ID: 3}, QoS: 2, Retain: true, Dup: true, PacketID: 65535, SubIDs: []uint32{1, 2}, Share: "$share/g/t"}),
		codec.AppendDelivery(nil, &session.Delivery{QoS: 2, Released: true, PacketID: 1}),
	}
}

func seedKeys() [][]byte {
	return [][]byte{recordKey("a"), deliveryKey("a\x00b", 7), inboundKey("", 3), {prefixClient, 0, 0xFF, 0, 1, kindRecord}}
}

func addSeeds(f *testing.F, seeds [][]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	addSeeds(f, seedRecords())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := codec.DecodeRecord("c", b)
		if err != nil {
			return
		}
		enc, err := codec.AppendRecord(nil, &r)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if again, err := codec.DecodeRecord("c", enc); err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, r)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	addSeeds(f, seedMessages())
	f.Fuzz(func(t *testing.T, b []byte) {
		var m session.Message
		if codec.DecodeMessage(b, &m) != nil {
			return
		}
		enc, err := codec.AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		var again session.Message
		if err := codec.DecodeMessage(enc, &again); err != nil || !reflect.DeepEqual(&again, &m) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}

func FuzzDecodeDelivery(f *testing.F) {
	addSeeds(f, seedDeliveries())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, id, err := codec.DecodeDelivery(b)
		if err != nil {
			return
		}
		if id != 0 {
			d.Msg = &session.Message{ID: id}
		}
		d2, id2, err := codec.DecodeDelivery(codec.AppendDelivery(nil, &d))
		if d2.Msg = d.Msg; err != nil || id2 != id || !reflect.DeepEqual(d2, d) {
			t.Fatalf("round trip: %+v (message %d), %v; want %+v (message %d)", d2, id2, err, d, id)
		}
	})
}

func FuzzSplitClientKey(f *testing.F) {
	addSeeds(f, seedKeys())
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := splitClientKey(b)
		if err != nil {
			return
		}
		client := k.client()
		if got := appendClient(nil, client); string(got) != string(k.prefix) {
			t.Fatalf("client %q encodes as %q, the key's prefix is %q", client, got, k.prefix)
		}
		sp := clientSpan(client)
		if string(b) < string(sp.lo) || string(b) >= string(sp.hi) {
			t.Fatalf("key %q is outside its client's span [%q, %q)", b, sp.lo, sp.hi)
		}
		_, _ = k.seq() // must not panic on any rest
		_, _ = k.packetID()
	})
}

// TestWriteFuzzCorpus writes the seeds above as the committed corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("PLUME_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set PLUME_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzDecodeRecord": seedRecords(), "FuzzDecodeMessage": seedMessages(),
		"FuzzDecodeDelivery": seedDeliveries(), "FuzzSplitClientKey": seedKeys(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
