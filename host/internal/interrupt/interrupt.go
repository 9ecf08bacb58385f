// Package interrupt makes a WebAssembly module interruptible at low cost. It
// adds two mutable i32 globals, an exported interrupt flag and a private
// countdown, and at the head of every loop code that decrements the
// countdown; every YieldEvery iterations the code
//
//   - executes memory.grow 0, which in wazero leaves machine code for Go: a
//     point where the Go scheduler can stop the goroutine, so that a guest
//     looping forever cannot stall the garbage collector's stop-the-world
//     (and with it the whole process), and
//   - traps (unreachable) if the interrupt flag is set.
//
// The host sets the flag from another goroutine to cut off a call that overran
// its deadline.
//
// This is the scheme of wasmtime's epoch interruption done on the binary, so
// that it works with wazero without WithCloseOnContextDone, which checks for
// cancellation by leaving machine code on every loop iteration (see
// docs/decisions/0006-plugin-deadlines.md). A loop check costs one load, a
// compare and a branch.
//
// Only the opcodes that the Go and Rust toolchains emit for wasip1 plus the
// bulk-memory, reference-type, sign-extension and saturating-conversion
// proposals are understood; Instrument reports an error for anything else
// (SIMD, threads, exceptions) and the caller falls back to wazero's own
// termination checks.
package interrupt

import (
	"errors"
	"fmt"
)

// Export is the name under which the interrupt global is exported.
const Export = "plume_interrupt"

// YieldEvery is the number of loop iterations between two visits to the host,
// which check the interrupt flag and let the Go runtime preempt the guest.
const YieldEvery = 4096

// ErrUnsupported reports a module that Instrument cannot rewrite.
var ErrUnsupported = errors.New("cannot instrument module")

// Section ids and their required order.
const (
	secCustom = 0
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

var rank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of the module bin with the interrupt global and
// the loop checks added.
func Instrument(bin []byte) ([]byte, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" || bin[4] != 1 || bin[5] != 0 || bin[6] != 0 || bin[7] != 0 {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary", ErrUnsupported)
	}
	var secs []section
	r := &reader{b: bin, p: 8}
	for r.p < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", ErrUnsupported, id, r.err)
		}
		if id != secCustom {
			if _, ok := rank[id]; !ok {
				return nil, fmt.Errorf("%w: unknown section %d", ErrUnsupported, id)
			}
		}
		secs = append(secs, section{id, body})
	}

	var importedGlobals, definedGlobals uint32
	hasMemory := false
	for _, s := range secs {
		var err error
		switch s.id {
		case secMemory:
			hasMemory = true
		case secImport:
			var mems uint32
			importedGlobals, mems, err = countImports(s.body)
			hasMemory = hasMemory || mems > 0
		case secGlobal:
			definedGlobals, err = (&reader{b: s.body}).count()
		case secExport:
			err = checkExports(s.body)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
	}
	if !hasMemory {
		return nil, fmt.Errorf("%w: the module has no memory", ErrUnsupported)
	}
	g := importedGlobals + definedGlobals // the interrupt flag
	fuel := g + 1                         // the countdown
	check := loopCheck(g, fuel)

	newGlobal := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B} // mut i32 = i32.const 0
	newGlobal = append(newGlobal, 0x7F, 0x01, 0x41)   // mut i32 = i32.const YieldEvery
	newGlobal = append(appendS32(newGlobal, YieldEvery), 0x0B)
	newExport := appendName(nil, Export)
	newExport = appendU32(append(newExport, 0x03), g)

	out := append([]byte(nil), bin[:8]...)
	var sawGlobal, sawExport bool
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// before emits the sections the module lacks, in their place.
	before := func(id byte) {
		if id == secCustom {
			return
		}
		if !sawGlobal && rank[id] > rank[secGlobal] {
			emit(secGlobal, append(appendU32(nil, 2), newGlobal...))
			sawGlobal = true
		}
		if !sawExport && rank[id] > rank[secExport] {
			emit(secExport, append(appendU32(nil, 1), newExport...))
			sawExport = true
		}
	}
	for _, s := range secs {
		before(s.id)
		switch s.id {
		case secGlobal:
			body, err := appendEntries(s.body, 2, newGlobal)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
			}
			emit(secGlobal, body)
			sawGlobal = true
		case secExport:
			body, err := appendEntries(s.body, 1, newExport)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
			}
			emit(secExport, body)
			sawExport = true
		case secCode:
			body, err := instrumentCode(s.body, check)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
			}
			emit(secCode, body)
		default:
			emit(s.id, s.body)
		}
	}
	before(11) // a module without code or data still gets the global
	return out, nil
}

// loopCheck is the code inserted at the head of every loop.
func loopCheck(flag, fuel uint32) []byte {
	b := appendU32([]byte{0x23}, fuel) // global.get fuel
	b = append(b, 0x41, 0x01, 0x6B)    // i32.const 1; i32.sub
	b = appendU32(append(b, 0x24), fuel)
	b = appendU32(append(b, 0x23), fuel)
	b = append(b, 0x45, 0x04, 0x40) // i32.eqz; if
	b = appendS32(append(b, 0x41), YieldEvery)
	b = appendU32(append(b, 0x24), fuel)        // fuel = YieldEvery
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1A) // drop(memory.grow 0): visit the host
	b = appendU32(append(b, 0x23), flag)        // global.get flag
	b = append(b, 0x04, 0x40, 0x00, 0x0B)       // if; unreachable; end
	return append(b, 0x0B)                      // end
}

// appendEntries adds k entries (encoded in entries) to a vector-shaped
// section body.
func appendEntries(body []byte, k uint32, entries []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := appendU32(nil, n+k)
	out = append(out, body[r.p:]...)
	return append(out, entries...), nil
}

func countImports(body []byte) (globals, memories uint32, err error) {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
			memories++
		case 0x03: // global
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			return 0, 0, fmt.Errorf("import kind %#x", kind)
		}
	}
	return globals, memories, r.err
}

func checkExports(body []byte) error {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if r.name() == Export {
			return fmt.Errorf("the module already exports %s", Export)
		}
		r.byte()
		r.u32()
	}
	return r.err
}

// instrumentCode rewrites every function body of the code section.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %v", i, r.err)
		}
		var err error
		if fn, err = instrumentFunc(fn[:0], code, check); err != nil {
			return nil, fmt.Errorf("function %d: %v", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.p != len(r.b) {
		return nil, errors.New("trailing bytes in code section")
	}
	return out, nil
}

func instrumentFunc(out, code, check []byte) ([]byte, error) {
	r := &reader{b: code}
	groups := r.u32()
	for i := uint32(0); i < groups; i++ {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, r.err
	}
	out = append(out, code[:r.p]...)
	for r.p < len(r.b) {
		start := r.p
		op := r.byte()
		if err := r.skipImmediates(op); err != nil {
			return nil, fmt.Errorf("opcode %#x at %d: %v", op, start, err)
		}
		if r.err != nil {
			return nil, fmt.Errorf("opcode %#x at %d: %v", op, start, r.err)
		}
		out = append(out, code[start:r.p]...)
		if op == 0x03 { // loop: check at every iteration
			out = append(out, check...)
		}
	}
	return out, nil
}
