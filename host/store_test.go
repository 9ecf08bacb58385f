package host

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/setting"
)

// The store accounts keys and values exactly, through new keys, replacements,
// counters and deletes, and refuses a write that would take it over budget,
// but never one that shrinks it.
func TestStoreAccountsKeysAndValuesInBytes(t *testing.T) {
	s := newShared(100)
	steps := []struct {
		what string
		do   func() bool
		ok   bool
		used int64
	}{
		{"new key a=10", func() bool { return s.set("a", make([]byte, 10)) }, true, 11},
		{"replace a=40", func() bool { return s.set("a", make([]byte, 40)) }, true, 41},
		{"new key bb=58 (101 > 100)", func() bool { return s.set("bb", make([]byte, 58)) }, false, 41},
		{"new key bb=57 (exactly 100)", func() bool { return s.set("bb", make([]byte, 57)) }, true, 100},
		{"new key bb=58 after shrinking a to 30", func() bool { return s.set("a", make([]byte, 30)) && s.set("bb", make([]byte, 58)) }, true, 91},
		{"counter c (9 bytes)", func() bool { _, ok := s.add("c", 1); return ok }, true, 100},
		{"counter c again (same size)", func() bool { n, ok := s.add("c", 1); return ok && n == 2 }, true, 100},
		{"counter d (109 > 100)", func() bool { _, ok := s.add("d", 1); return ok }, false, 100},
		{"delete bb", func() bool { return s.delete("bb") }, true, 40},
		{"delete bb again", func() bool { return s.delete("bb") }, false, 40},
	}
	for _, st := range steps {
		if ok := st.do(); ok != st.ok {
			t.Errorf("%s: ok = %v, want %v", st.what, ok, st.ok)
		}
		if got := s.bytes(); got != st.used {
			t.Errorf("%s: %d bytes accounted, want %d", st.what, got, st.used)
		}
	}
	// A budget lowered by a reload keeps what is held and refuses growth,
	// but lets the plugin shrink back under it.
	s.setLimit(20)
	if s.set("e", []byte("x")) {
		t.Error("a new key over a lowered budget was stored")
	}
	if !s.set("a", make([]byte, 5)) || s.bytes() != 15 {
		t.Errorf("shrinking under a lowered budget: %d bytes, want 15", s.bytes())
	}
}

// kv_set answers TOO_LARGE (-5) for a write over the byte budget.
func TestKVSetOverBudgetIsTooLarge(t *testing.T) {
	inst := &instance{m: &module{shared: newShared(64)}}
	mem := &testMemory{data: make([]byte, 256)}
	copy(mem.data, "key")
	call := func(n uint32) int32 {
		stack := []uint64{0, 3, 16, uint64(n)}
		kvSet(inst, mem, stack)
		return int32(uint32(stack[0]))
	}
	if got := call(61); got != statusOK {
		t.Fatalf("kv_set of 3+61 bytes in a 64-byte budget: %d, want OK", got)
	}
	if got := call(62); got != statusTooLarge {
		t.Fatalf("kv_set of 3+62 bytes in a 64-byte budget: %d, want TOO_LARGE (%d)", got, statusTooLarge)
	}
	if got := inst.m.shared.bytes(); got != 64 {
		t.Errorf("%d bytes accounted after the refusal, want the 64 of the first value", got)
	}
}

type testMemory struct{ data []byte }

func (m *testMemory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m.data)) {
		return nil, false
	}
	return m.data[off : off+n], true
}

func (m *testMemory) Write(off uint32, v []byte) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m.data)) {
		return false
	}
	copy(m.data[off:], v)
	return true
}

func (m *testMemory) WriteString(off uint32, v string) bool { return m.Write(off, []byte(v)) }

// A plugin filling its store under distinct keys stores exactly what its
// kv_max_bytes allows, and the host holds that and no more; by default the
// budget is 16 MiB.
func TestPluginStoreStopsAtItsByteBudget(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		const value = 1 << 10
		for _, budget := range []int64{256 << 10, 0} {
			cfg := one(engine, "hostile", testPlugin(t, "hostile"))
			cfg.Plugins[0].KVMaxBytes = setting.ByteSize(budget)
			cfg.Plugins[0].CallTimeout = time.Minute // 16,000 writes under -race on a busy machine
			h, _ := startHost(t, cfg)
			limit := budget
			if limit == 0 {
				limit = DefaultKVMaxBytes
			}
			var want, used int64
			for ; ; want++ {
				n := int64(len("fill-"+strconv.FormatInt(want, 10))) + value
				if used+n > limit {
					break
				}
				used += n
			}
			res, err := authorizeDirect(h, "hostile", "kvfill:"+strconv.Itoa(value))
			if err != nil || res.ReasonString != strconv.FormatInt(want, 10) {
				t.Errorf("budget %d: the plugin stored %q values (%v), want %d", limit, res.ReasonString, err, want)
			}
			if got := h.Plugin("hostile").shared.bytes(); got != used {
				t.Errorf("budget %d: %d bytes accounted, want %d", limit, got, used)
			}
			t.Logf("budget %d: %d values of %d bytes stored, %d bytes accounted", limit, want, value, used)
		}
	})
}

// An instance that runs out of memory traps and is dropped, and its memory
// comes back: many traps in a row leave the Go heap where one trap left it,
// not a plugin's memory cap higher per trap.
func TestRepeatedMemoryBombsDoNotGrowTheHeap(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		cfg.Plugins[0].MemoryPages = 256 // 16 MiB
		cfg.Plugins[0].CallTimeout = time.Minute
		cfg.Plugins[0].PoolSize = 1
		h, _ := startHost(t, cfg)
		bomb := func() {
			t.Helper()
			if _, err := authorizeDirect(h, "hostile", "bomb"); err == nil {
				t.Fatal("bomb: no error, want a trap")
			}
		}
		bomb()
		before := heapInuse()
		const traps = 20
		for i := 0; i < traps; i++ {
			bomb()
		}
		after := heapInuse()
		grew := int64(after) - int64(before)
		t.Logf("%d more traps of a 16 MiB plugin: heap in use %d MiB -> %d MiB", traps, before>>20, after>>20)
		// A leak would hold 16 MiB (the cap) per trap, 320 MiB in all.
		if grew > 64<<20 {
			t.Errorf("the heap grew by %d MiB over %d traps; want it back where it was", grew>>20, traps)
		}
		if n := h.Plugin("hostile").Traps(); n != traps+1 {
			t.Errorf("traps = %d, want %d", n, traps+1)
		}
		if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("after the bombs: %v, %v; want allow", res.Verdict, err)
		}
	})
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave finalizers' objects for the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
