//go:build wasmtime

package host

import (
	"encoding/binary"
	"testing"
	"time"
)

// pollClocks answers a poll of clocks with the ones that fire first and the
// time to sleep, refuses absolute timeouts and memory outside the guest's,
// and leaves a poll naming a descriptor to wasmtime.
func TestPollClocksAnswersSleepsOnly(t *testing.T) {
	const in, out, nevents = 0, 256, 512
	sub := func(mem []byte, i int, userdata uint64, tag byte, timeout uint64, flags uint16) {
		s := mem[in+i*wasiSubscriptionLen:]
		binary.LittleEndian.PutUint64(s[0:], userdata)
		s[8] = tag
		binary.LittleEndian.PutUint64(s[24:], timeout)
		binary.LittleEndian.PutUint16(s[40:], flags)
	}

	mem := make([]byte, 1024)
	sub(mem, 0, 7, wasiEventClock, uint64(5*time.Millisecond), 0)
	sub(mem, 1, 9, wasiEventClock, uint64(time.Millisecond), 0)
	d, errno, clocks := pollClocks(mem, in, out, 2, nevents)
	if !clocks || errno != wasiSuccess || d != time.Millisecond {
		t.Fatalf("two clocks: sleep %s, errno %d, clocks only %v; want 1ms, 0, true", d, errno, clocks)
	}
	if n := binary.LittleEndian.Uint32(mem[nevents:]); n != 1 || binary.LittleEndian.Uint64(mem[out:]) != 9 || mem[out+10] != wasiEventClock {
		t.Errorf("events: %d, first for userdata %d; want one, for the 1ms clock (9)", n, binary.LittleEndian.Uint64(mem[out:]))
	}

	sub(mem, 1, 9, wasiEventClock, 1, wasiClockAbstime)
	if _, errno, _ := pollClocks(mem, in, out, 2, nevents); errno != wasiNotsup {
		t.Errorf("an absolute clock: errno %d, want NOTSUP (%d)", errno, wasiNotsup)
	}
	sub(mem, 1, 9, 1 /* fd_read */, 0, 0)
	if _, _, clocks := pollClocks(mem, in, out, 2, nevents); clocks {
		t.Error("a poll naming a descriptor was answered as a sleep")
	}
	sub(mem, 1, 9, wasiEventClock, 1, 0)
	if _, errno, _ := pollClocks(mem, in, 1000, 2, nevents); errno != wasiFault {
		t.Errorf("events outside memory: errno %d, want FAULT (%d)", errno, wasiFault)
	}
	if _, errno, _ := pollClocks(mem, in, out, 0, nevents); errno != wasiInval {
		t.Errorf("no subscriptions: errno %d, want INVAL (%d)", errno, wasiInval)
	}
}
