package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/plumemq/plume/core/session"
)

// Deliveries come back split into Inflight (PacketID set) and Queued, each
// in Seq order whatever order they were put in, with every field: a
// released QoS 2 delivery with no message, subscription identifiers, the
// share it came through, the RETAIN flag to send.
func deliveriesSplitAndOrdered(t *testing.T, h Harness) {
	o := open(t, h)
	m1, m2, m3 := message(1, "a/1"), plainMessage(2, "a/2"), message(3, "a/3")
	released := session.Delivery{QoS: 2, PacketID: 8, Released: true, Seq: 3}
	withSubIDs := session.Delivery{Msg: m2, QoS: 1, PacketID: 65535, Dup: true, SubIDs: []uint32{1, 268_435_455}, Seq: 2}
	shared := session.Delivery{Msg: m1, QoS: 2, Retain: true, Share: "$share/g/a/#", SubIDs: []uint32{7}, Seq: 9}
	o.commit(putSession(record("c1")), putMessage(m1), putMessage(m2), putMessage(m3))
	o.commit(putDelivery("c1", queued(5, m1)))
	o.commit(putDelivery("c1", shared), putDelivery("c1", withSubIDs))
	o.commit(putDelivery("c1", queued(1<<40, m3)), putDelivery("c1", released))
	want := record("c1")
	want.Inflight = []session.Delivery{withSubIDs, released}
	want.Queued = []session.Delivery{queued(5, m1), shared, queued(1<<40, m3)}
	sameRecord(t, "deliveries", loaded(t, o.load(), "c1"), want)
}

// Deliveries of one message, in one session or several, share one *Message
// after Load: the message was stored once.
func deliveriesShareOneMessage(t *testing.T, h Harness) {
	o := open(t, h)
	m, other := message(1, "fan/out"), message(2, "other")
	o.commit(putSession(minimal("c1")), putSession(minimal("c2")), putMessage(m), putMessage(other),
		putDelivery("c1", queued(1, m)), putDelivery("c1", queued(2, other)), putDelivery("c1", sent(3, m, 1)),
		putDelivery("c2", queued(7, m)))
	snap := o.load()
	c1, c2 := loaded(t, snap, "c1"), loaded(t, snap, "c2")
	if len(c1.Queued) != 2 || len(c1.Inflight) != 1 || len(c2.Queued) != 1 {
		t.Fatalf("loaded c1 %s %s, c2 %s", show(reflect.ValueOf(c1.Inflight)), show(reflect.ValueOf(c1.Queued)), show(reflect.ValueOf(c2.Queued)))
	}
	shared := c1.Queued[0].Msg
	if c1.Inflight[0].Msg != shared || c2.Queued[0].Msg != shared {
		t.Fatalf("three deliveries of message 1 point at %p, %p, %p: want one *Message", shared, c1.Inflight[0].Msg, c2.Queued[0].Msg)
	}
	if c1.Queued[1].Msg == shared {
		t.Fatal("deliveries of two messages share one *Message")
	}
	if !reflect.DeepEqual(shared, m) {
		t.Fatalf("shared message %s, want %s", showMessage(shared), showMessage(m))
	}
}

// PutDelivery replaces the delivery of its Seq: a queued delivery sent, then
// a QoS 2 delivery released (its message let go).
func putDeliveryReplaces(t *testing.T, h Harness) {
	o := open(t, h)
	m1, m2 := message(1, "a"), message(2, "b")
	o.commit(putSession(minimal("c1")), putMessage(m1), putMessage(m2),
		putDelivery("c1", queued(1, m1)), putDelivery("c1", queued(2, m2)))
	o.commit(putDelivery("c1", sent(2, m2, 40)))
	want := minimal("c1")
	want.Inflight = []session.Delivery{sent(2, m2, 40)}
	want.Queued = []session.Delivery{queued(1, m1)}
	sameRecord(t, "after sending seq 2", loaded(t, o.load(), "c1"), want)

	rel := session.Delivery{QoS: 2, PacketID: 40, Released: true, Seq: 2}
	o.commit(putDelivery("c1", rel), deleteMessageOp(2))
	want.Inflight = []session.Delivery{rel}
	sameRecord(t, "after releasing seq 2", loaded(t, o.load(), "c1"), want)
}

func deleteDelivery(t *testing.T, h Harness) {
	o := open(t, h)
	m := message(1, "a")
	o.commit(putSession(minimal("c1")), putSession(minimal("c2")), putMessage(m),
		putDelivery("c1", queued(1, m)), putDelivery("c1", sent(2, m, 1)), putDelivery("c1", queued(3, m)),
		putDelivery("c2", queued(2, m)))
	o.commit(deleteDeliveryOp("c1", 2), deleteDeliveryOp("c1", 99), deleteDeliveryOp("nobody", 1))
	snap := o.load()
	c1 := minimal("c1")
	c1.Queued = []session.Delivery{queued(1, m), queued(3, m)}
	sameRecord(t, "c1", loaded(t, snap, "c1"), c1)
	c2 := minimal("c2")
	c2.Queued = []session.Delivery{queued(2, m)}
	sameRecord(t, "c2, whose seq 2 was not deleted", loaded(t, snap, "c2"), c2)
}

// A delivery whose message was deleted is not returned; the others are.
func deleteMessage(t *testing.T, h Harness) {
	o := open(t, h)
	m1, m2 := message(1, "a"), message(2, "b")
	o.commit(putSession(minimal("c1")), putMessage(m1), putMessage(m2),
		putDelivery("c1", queued(1, m1)), putDelivery("c1", sent(2, m2, 5)), putDelivery("c1", queued(3, m2)))
	o.commit(deleteMessageOp(2), deleteMessageOp(12345))
	want := minimal("c1")
	want.Queued = []session.Delivery{queued(1, m1)}
	sameRecord(t, "after deleting message 2", loaded(t, o.load(), "c1"), want)
}

// manyDeliveries is a queue of 3,000 deliveries, the first 1,000 of which
// are then acknowledged (delivery and message deleted), as a client that
// comes back and drains part of its queue.
func manyDeliveries(t *testing.T, h Harness) {
	o := open(t, h)
	const n, drained = 3000, 1000
	want := minimal("c1")
	o.commit(putSession(want))
	var ops []session.Op
	for i := range n {
		m := plainMessage(uint64(i+1), fmt.Sprintf("q/%d", i))
		d := queued(uint64(i+1), m)
		ops = append(ops, putMessage(m), putDelivery("c1", d))
		if i >= drained {
			want.Queued = append(want.Queued, d)
		}
		if len(ops) >= 500 {
			o.commit(ops...)
			ops = ops[:0]
		}
	}
	o.commit(ops...)
	ops = ops[:0]
	for i := range drained {
		ops = append(ops, deleteDeliveryOp("c1", uint64(i+1)), deleteMessageOp(uint64(i+1)))
	}
	o.commit(ops...)
	sameRecord(t, "queue", loaded(t, o.load(), "c1"), want)
}

// Ops of one Commit apply in their order: a delivery put after its
// session's DeleteSession stays, one put before goes; a message deleted and
// put again stays.
func opsApplyInOrder(t *testing.T, h Harness) {
	o := open(t, h)
	m := message(1, "a")
	o.commit(putSession(record("c1")), putMessage(m), putDelivery("c1", queued(1, m)), putInbound("c1", 1))
	o.commit(deleteMessageOp(1), putMessage(m), deleteSessionOp("c1"), putSession(minimal("c1")), putDelivery("c1", queued(2, m)),
		putInbound("c1", 2), putSession(minimal("c2")), putInbound("c2", 3), deleteInbound("c2", 3))
	snap := o.load()
	want := minimal("c1")
	want.Queued = []session.Delivery{queued(2, m)}
	want.InboundQoS2 = []uint16{2}
	sameRecord(t, "c1", loaded(t, snap, "c1"), want)
	sameRecord(t, "c2", loaded(t, snap, "c2"), minimal("c2"))
}
