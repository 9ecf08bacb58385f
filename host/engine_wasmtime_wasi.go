//go:build wasmtime

package host

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v37"
)

// The WASI functions the wasmtime engine answers itself (see link):
// poll_oneoff, so that the deadline cuts a sleep short, and fd_write to
// stdout and stderr, which go to the plugin's log.

// WASI preview 1 poll_oneoff layouts and codes (wasi_snapshot_preview1).
const (
	wasiInval           = 28
	wasiNotsup          = 58
	wasiEventClock      = 0
	wasiSubscriptionLen = 48
	wasiEventLen        = 32
	wasiClockAbstime    = 1
)

// pollOneoff shadows WASI's poll_oneoff. wasmtime's own sleeps in the host
// thread for as long as the guest asks, where epoch interruption cannot reach:
// a plugin calling time.Sleep (Go) or std::thread::sleep (Rust) ran its whole
// sleep past the deadline. A poll of clocks alone (a sleep) is answered here
// and sleeps in instance.sleep, which the watchdog cuts short; the call then
// traps. A poll that names a descriptor goes to wasmtime's: every descriptor a
// plugin can hold (an empty stdin, read-only files) is always ready, so it
// returns at once.
func (g *wasmtimeGuest) pollOneoff(orig *wasmtime.Func) wasiFunc {
	return func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		in, out, n, nevents := uint32(args[0].I32()), uint32(args[1].I32()), uint32(args[2].I32()), uint32(args[3].I32())
		d, errno, clocksOnly := pollClocks(g.dataOf(c), in, out, n, nevents)
		if !clocksOnly {
			res, err := orig.Call(c, args[0], args[1], args[2], args[3])
			if err != nil {
				return nil, wasmtime.NewTrap(err.Error())
			}
			return []wasmtime.Val{wasmtime.ValI32(res.(int32))}, nil
		}
		if errno == wasiSuccess && !g.inst.sleep(d) {
			return nil, wasmtime.NewTrap("plugin call cut off at its deadline during a WASI sleep")
		}
		return []wasmtime.Val{wasmtime.ValI32(errno)}, nil
	}
}

// pollClocks answers a poll_oneoff whose subscriptions are all relative clock
// timeouts: it writes an event for each that fires first (the shortest) and
// returns how long to sleep. clocksOnly is false, and nothing is written, if
// a subscription is not a clock. Absolute timeouts are refused with NOTSUP,
// as wazero refuses them.
func pollClocks(mem []byte, in, out, n, nevents uint32) (d time.Duration, errno int32, clocksOnly bool) {
	if n == 0 {
		return 0, wasiInval, true
	}
	subs, ok := memRange(mem, in, uint64(n)*wasiSubscriptionLen)
	if !ok {
		return 0, wasiFault, true
	}
	for i := uint32(0); i < n; i++ {
		if subs[i*wasiSubscriptionLen+8] != wasiEventClock {
			return 0, 0, false
		}
	}
	events, ok := memRange(mem, out, uint64(n)*wasiEventLen)
	count, ok2 := memRange(mem, nevents, 4)
	if !ok || !ok2 {
		return 0, wasiFault, true
	}
	first := ^uint64(0)
	for i := uint32(0); i < n; i++ {
		s := subs[i*wasiSubscriptionLen:]
		if binary.LittleEndian.Uint16(s[40:])&wasiClockAbstime != 0 {
			return 0, wasiNotsup, true
		}
		first = min(first, binary.LittleEndian.Uint64(s[24:]))
	}
	k := uint32(0)
	for i := uint32(0); i < n; i++ {
		s := subs[i*wasiSubscriptionLen:]
		if binary.LittleEndian.Uint64(s[24:]) != first {
			continue
		}
		e := events[k*wasiEventLen : (k+1)*wasiEventLen]
		clear(e)
		copy(e[:8], s[:8]) // userdata
		e[10] = wasiEventClock
		k++
	}
	binary.LittleEndian.PutUint32(count, k)
	return time.Duration(min(first, 1<<63-1)), wasiSuccess, true
}

// memRange is n bytes of mem at off, or false if they lie outside it.
func memRange(mem []byte, off uint32, n uint64) ([]byte, bool) {
	if uint64(off)+n > uint64(len(mem)) {
		return nil, false
	}
	return mem[off : uint64(off)+n], true
}

// WASI errno values (wasi_snapshot_preview1).
const (
	wasiSuccess = 0
	wasiFault   = 21
)

func (g *wasmtimeGuest) fdWrite(orig *wasmtime.Func) wasiFunc {
	return func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		fd, iovs, n, nwritten := args[0].I32(), uint32(args[1].I32()), uint32(args[2].I32()), uint32(args[3].I32())
		if fd != 1 && fd != 2 {
			res, err := orig.Call(c, args[0], args[1], args[2], args[3])
			if err != nil {
				var trap *wasmtime.Trap
				if errors.As(err, &trap) {
					return nil, trap
				}
				return nil, wasmtime.NewTrap(err.Error())
			}
			return []wasmtime.Val{wasmtime.ValI32(res.(int32))}, nil
		}
		data := g.dataOf(c)
		total := uint32(0)
		for i := uint32(0); i < n; i++ {
			at := uint64(iovs) + 8*uint64(i)
			if at+8 > uint64(len(data)) {
				return []wasmtime.Val{wasmtime.ValI32(wasiFault)}, nil
			}
			ptr, size := binary.LittleEndian.Uint32(data[at:]), binary.LittleEndian.Uint32(data[at+4:])
			if uint64(ptr)+uint64(size) > uint64(len(data)) {
				return []wasmtime.Val{wasmtime.ValI32(wasiFault)}, nil
			}
			_, _ = g.wm.out.Write(data[ptr : ptr+size])
			total += size
		}
		if uint64(nwritten)+4 > uint64(len(data)) {
			return []wasmtime.Val{wasmtime.ValI32(wasiFault)}, nil
		}
		binary.LittleEndian.PutUint32(data[nwritten:], total)
		return []wasmtime.Val{wasmtime.ValI32(wasiSuccess)}, nil
	}
}
