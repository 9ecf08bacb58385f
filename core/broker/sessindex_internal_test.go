package broker

import "testing"

// The session index keeps the last entry stored per id, deletes only the
// entry it is asked to (a newer one survives an old session's end), and
// each visits a copy, so a callback may change the index.
func TestSessionIndex(t *testing.T) {
	var x sessionIndex
	if _, ok := x.load("a"); ok || x.len() != 0 {
		t.Fatal("the zero index is not empty")
	}
	old, cur := new(entry), new(entry)
	x.store("a", old)
	x.store("a", cur)
	x.store("b", old)
	x.compareAndDelete("a", old) // an ended session that was replaced
	if e, ok := x.load("a"); !ok || e != cur {
		t.Fatal("compareAndDelete removed a newer entry")
	}
	seen := 0
	x.each(func(e *entry) bool {
		seen++
		x.compareAndDelete("b", old) // takes the index's lock: must not deadlock
		return true
	})
	if seen != 2 || x.len() != 1 {
		t.Fatalf("each saw %d entries, %d left; want 2 and 1", seen, x.len())
	}
}
