package broker

import (
	"slices"
	"testing"
)

// The wheel expires each connection at its second, not before, whatever the
// order of adds and removes, also past one round of the wheel.
func TestKeepWheelExpiresEachDeadlineAtItsSecond(t *testing.T) {
	var w keepWheel
	cs := make([]*client, 10)
	dues := []uint32{1, 1, 2, 5, 5, 5, wheelSlots + 5, 2*wheelSlots + 1, 3, 7}
	for i := range cs {
		cs[i] = &client{}
		w.add(cs[i], dues[i])
	}
	w.remove(cs[3]) // from the middle of slot 5
	w.remove(cs[0]) // the first of slot 1
	if w.n != 8 {
		t.Fatalf("n = %d, want 8", w.n)
	}
	want := map[uint32][]*client{1: {cs[1]}, 2: {cs[2]}, 3: {cs[8]}, 5: {cs[4], cs[5]}, 7: {cs[9]},
		wheelSlots + 5: {cs[6]}, 2*wheelSlots + 1: {cs[7]}}
	for now := uint32(1); now <= 2*wheelSlots+2; now++ {
		got := w.expire(now, nil)
		if !sameClients(got, want[now]) {
			t.Fatalf("second %d: expired %d connections, want %d", now, len(got), len(want[now]))
		}
	}
	if w.n != 0 {
		t.Fatalf("n = %d after all expired", w.n)
	}
	for _, c := range cs {
		if c.keepSlot != 0 {
			t.Fatal("an expired or removed connection still has a slot")
		}
	}
}

// A poller that was not woken for longer than a round still expires every
// deadline that passed, and an add for a past second lands on the next one.
func TestKeepWheelCatchesUpAfterALongSleep(t *testing.T) {
	var w keepWheel
	a, b := &client{}, &client{}
	w.add(a, 3)
	w.add(b, wheelSlots+100)
	if got := w.expire(3*wheelSlots, nil); !sameClients(got, []*client{a, b}) {
		t.Fatalf("expired %d connections after a long sleep, want 2", len(got))
	}
	late := &client{}
	w.add(late, 10) // long past
	if got := w.expire(3*wheelSlots, nil); len(got) != 0 {
		t.Fatal("a past deadline expired in a second already done")
	}
	if got := w.expire(3*wheelSlots+1, nil); !sameClients(got, []*client{late}) {
		t.Fatal("a past deadline did not expire on the next second")
	}
}

func sameClients(a, b []*client) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(c *client) bool { return !slices.Contains(b, c) })
}
