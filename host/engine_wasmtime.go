//go:build wasmtime

package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bytecodealliance/wasmtime-go/v37"
	"github.com/tetratelabs/wazero/api"
)

const wasmtimeBuilt = true

// wasmtimeModulePath is the Go module whose version keys the compilation
// cache: code serialized by one wasmtime is refused by another.
const wasmtimeModulePath = "github.com/bytecodealliance/wasmtime-go/v37"

// wasmtimeEngine runs plugins on wasmtime. Calls are cut off by epoch
// interruption: compiled code checks the engine's epoch at function entries
// and loop heads, the watchdog advances the epoch, and each call sets its
// store's deadline in epochs. Fuel changes the generated code, so plugins
// with a Fuel budget run on a second engine that meters it.
type wasmtimeEngine struct {
	cacheDir      string
	plain, fueled *epochEngine
}

// epochEngine is one wasmtime engine and the epoch the watchdog has brought
// it to. epoch is the Host epoch (Host.now) that the engine's own counter
// stands for; it is raised only after the engine's counter has been, so a
// call that reads it never sets a deadline that falls short.
type epochEngine struct {
	e     *wasmtime.Engine
	fuel  bool
	epoch atomic.Int64
}

func newWasmtimeEngine(cacheDir string) (engine, error) {
	mk := func(fuel bool) *epochEngine {
		c := wasmtime.NewConfig()
		c.SetEpochInterruption(true)
		c.SetConsumeFuel(fuel)
		return &epochEngine{e: wasmtime.NewEngineWithConfig(c), fuel: fuel}
	}
	if cacheDir != "" {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("plugin cache dir %q: %w", cacheDir, err)
		}
	}
	return &wasmtimeEngine{cacheDir: cacheDir, plain: mk(false), fueled: mk(true)}, nil
}

// advance raises both engines' epochs to epoch, one increment at a time, so
// that a watchdog that ran late catches up instead of stretching deadlines.
func (e *wasmtimeEngine) advance(epoch int64) {
	for _, ee := range []*epochEngine{e.plain, e.fueled} {
		for ee.epoch.Load() < epoch {
			ee.e.IncrementEpoch()
			ee.epoch.Add(1)
		}
	}
}

// close leaves the engines to their finalizers. A caller that took a pool
// token just before Host.Close may still start an instance, which needs the
// engine (wasmtime-go panics on a closed one); wasmtime itself keeps an
// engine alive while a module or store uses it.
func (e *wasmtimeEngine) close(context.Context) error { return nil }

// wasmtimeModule is a module compiled by one of the engines.
type wasmtimeModule struct {
	ee     *epochEngine
	mod    *wasmtime.Module
	cfg    PluginConfig
	mounts []mount // allow_fs and the data files' snapshot
	out    *lineWriter
	inf    moduleInfo
	init   bool // exports _initialize (a WASI reactor)
}

func (e *wasmtimeEngine) compile(_ context.Context, m *module, bin []byte) (compiled, error) {
	ee := e.plain
	if m.cfg.Fuel > 0 {
		ee = e.fueled
	}
	mod, err := e.load(ee, m, bin)
	if err != nil {
		return nil, err
	}
	wm := &wasmtimeModule{ee: ee, mod: mod, cfg: m.cfg, mounts: m.mounts(), out: m.guestOutput()}
	wm.inf.funcs = map[string]funcType{}
	wm.inf.memories = map[string]bool{}
	for _, ex := range mod.Exports() {
		t := ex.Type()
		if ft := t.FuncType(); ft != nil {
			wm.inf.funcs[ex.Name()] = funcType{valueTypes(ft.Params()), valueTypes(ft.Results())}
		} else if t.MemoryType() != nil {
			wm.inf.memories[ex.Name()] = true
		}
	}
	for _, im := range mod.Imports() {
		if im.Type().FuncType() != nil && im.Name() != nil {
			wm.inf.imports = append(wm.inf.imports, funcImport{im.Module(), *im.Name()})
		}
	}
	_, wm.init = wm.inf.funcs["_initialize"]
	return wm, nil
}

// load compiles bin, or deserializes the code compiled for it before. The
// cache is keyed by the module's bytes, the wasmtime-go version and whether
// fuel is metered; a file wasmtime refuses (another build, another CPU) is
// compiled again and replaced. The cache dir is trusted like the binary:
// deserializing runs no checks on the machine code.
func (e *wasmtimeEngine) load(ee *epochEngine, m *module, bin []byte) (*wasmtime.Module, error) {
	if e.cacheDir == "" {
		return compileWasmtime(ee, bin)
	}
	key := sha256.Sum256(bin)
	name := hex.EncodeToString(key[:])
	if ee.fuel {
		name += "-fuel"
	}
	dir := filepath.Join(e.cacheDir, "wasmtime-"+wasmtimeVersion()+"-"+runtime.GOARCH)
	path := filepath.Join(dir, name+".cwasm")
	if _, err := os.Stat(path); err == nil {
		mod, err := wasmtime.NewModuleDeserializeFile(ee.e, path)
		if err == nil {
			return mod, nil
		}
		m.log.Warn().Err(err).Str("file", path).Msg("cached plugin code refused; compiling again")
	}
	mod, err := compileWasmtime(ee, bin)
	if err != nil {
		return nil, err
	}
	if err := writeCache(dir, path, mod); err != nil {
		m.log.Warn().Err(err).Str("dir", dir).Msg("compiled plugin code not cached")
	}
	return mod, nil
}

func compileWasmtime(ee *epochEngine, bin []byte) (*wasmtime.Module, error) {
	mod, err := wasmtime.NewModule(ee.e, bin)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return mod, nil
}

// writeCache writes the serialized module under a temporary name and renames
// it into place, so that a reader never sees half a file.
func writeCache(dir, path string, mod *wasmtime.Module) error {
	b, err := mod.Serialize()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

var wasmtimeVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == wasmtimeModulePath {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return "v37-unknown"
})

// valueTypes turns wasmtime's value kinds into WebAssembly's binary encoding,
// which checkABI and its error texts use.
func valueTypes(ts []*wasmtime.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		switch t.Kind() {
		case wasmtime.KindI32:
			out[i] = api.ValueTypeI32
		case wasmtime.KindI64:
			out[i] = api.ValueTypeI64
		case wasmtime.KindF32:
			out[i] = api.ValueTypeF32
		case wasmtime.KindF64:
			out[i] = api.ValueTypeF64
		case wasmtime.KindExternref:
			out[i] = api.ValueTypeExternref
		case wasmtime.KindFuncref:
			out[i] = 0x70 // funcref; wazero's api has no name for it
		}
	}
	return out
}

func (wm *wasmtimeModule) info() *moduleInfo { return &wm.inf }

func (wm *wasmtimeModule) close(context.Context) error {
	wm.mod.Close()
	return nil
}

func (wm *wasmtimeModule) newGuest(inst *instance) guest {
	return &wasmtimeGuest{inst: inst, wm: wm}
}

// initFuel is the budget of instantiation, _initialize and plume_init, which
// Fuel does not meter (their deadline still applies).
const initFuel = 1 << 62

// wasmtimeGuest is one instance in a store of its own: a store is
// single-threaded, and the memory limit, the epoch deadline and the fuel are
// per store.
type wasmtimeGuest struct {
	inst   *instance
	wm     *wasmtimeModule
	store  *wasmtime.Store
	memory *wasmtime.Memory
	fns    [numExports]*wasmtime.Func

	// Host functions run one at a time (a guest serves one call at a time
	// and host functions do not call back into it), so they share these.
	mem    byteMemory
	hstack [4]uint64

	closed   bool
	lastSize uint32
}

func (g *wasmtimeGuest) start(_ context.Context, deadline int64) error {
	wm := g.wm
	g.store = wasmtime.NewStore(wm.ee.e)
	g.store.Limiter(int64(wm.cfg.MemoryPages)*65536, -1, -1, -1, -1)
	g.setBudget(deadline, initFuel)

	wasi := wasmtime.NewWasiConfig()
	if len(wm.cfg.Env) > 0 {
		var keys, values []string
		for k, v := range wm.cfg.Env {
			keys, values = append(keys, k), append(values, v)
		}
		wasi.SetEnv(keys, values)
	}
	for _, mt := range wm.mounts {
		if err := wasi.PreopenDir(mt.host, mt.guest, wasmtime.DIR_READ, wasmtime.FILE_READ); err != nil {
			wasi.Close()
			return fmt.Errorf("mount %s at %s: %w", mt.host, mt.guest, err)
		}
	}
	g.store.SetWasi(wasi)

	linker := wasmtime.NewLinker(wm.ee.e)
	defer linker.Close() // the store keeps what was instantiated from it
	if err := g.link(linker); err != nil {
		return err
	}
	in, err := linker.Instantiate(g.store, wm.mod)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	if ex := in.GetExport(g.store, "memory"); ex != nil {
		g.memory = ex.Memory()
	}
	if g.memory == nil {
		return fmt.Errorf("%w: the module exports no memory named \"memory\"", ErrABI)
	}
	for i, name := range exportNames {
		g.fns[i] = in.GetFunc(g.store, name)
	}
	if wm.init {
		if _, err := in.GetFunc(g.store, "_initialize").Call(g.store); err != nil {
			return fmt.Errorf("instantiate: _initialize: %w", classify(err))
		}
	}
	return nil
}

// link defines WASI and the host functions for this guest. fd_write is
// shadowed for stdout and stderr, which go to the plugin's log line by line
// as with wazero (wasmtime's C API can send them only to files); other
// descriptors go to WASI's own fd_write. poll_oneoff is shadowed so that the
// deadline cuts a sleep short (pollOneoff).
func (g *wasmtimeGuest) link(l *wasmtime.Linker) error {
	l.AllowShadowing(true)
	if err := l.DefineWasi(); err != nil {
		return fmt.Errorf("link WASI: %w", err)
	}
	if err := g.shadow(l, "fd_write", g.fdWrite); err != nil {
		return err
	}
	if err := g.shadow(l, "poll_oneoff", g.pollOneoff); err != nil {
		return err
	}
	for _, f := range hostFuncs {
		fn := wasmtime.NewFunc(g.store, funcTypeOf(f.params, f.results), g.hostFunc(f))
		if err := l.Define(g.store, importModule, f.name, fn); err != nil {
			return fmt.Errorf("link host function %s: %w", f.name, err)
		}
	}
	return nil
}

// wasiFunc is a WASI function as wasmtime-go calls a Go one.
type wasiFunc = func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap)

// shadow replaces WASI's function name, of type (i32 i32 i32 i32) -> i32, by
// the one mk makes, which gets wasmtime's own to fall back on.
func (g *wasmtimeGuest) shadow(l *wasmtime.Linker, name string, mk func(orig *wasmtime.Func) wasiFunc) error {
	orig := l.Get(g.store, wasiModule, name)
	if orig == nil || orig.Func() == nil {
		return fmt.Errorf("link WASI: no %s", name)
	}
	fn := wasmtime.NewFunc(g.store, funcTypeOf([]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}), mk(orig.Func()))
	if err := l.Define(g.store, wasiModule, name, fn); err != nil {
		return fmt.Errorf("link WASI: %w", err)
	}
	return nil
}

func funcTypeOf(params, results []api.ValueType) *wasmtime.FuncType {
	kinds := func(ts []api.ValueType) []*wasmtime.ValType {
		out := make([]*wasmtime.ValType, len(ts))
		for i, t := range ts {
			k := wasmtime.KindI32
			if t == i64 {
				k = wasmtime.KindI64
			}
			out[i] = wasmtime.NewValType(k)
		}
		return out
	}
	return wasmtime.NewFuncType(kinds(params), kinds(results))
}

// hostFunc adapts a host function to wasmtime's calling convention: the
// parameters go into the same stack layout wazero uses, the guest's memory is
// looked up for this call (it moves when it grows), and stack[0] becomes the
// result.
func (g *wasmtimeGuest) hostFunc(f hostFunc) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	var results []wasmtime.Val
	if len(f.results) > 0 {
		results = make([]wasmtime.Val, 1)
	}
	resultI64 := len(f.results) > 0 && f.results[0] == i64
	return func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		stack := g.hstack[:]
		for i, a := range args {
			if a.Kind() == wasmtime.KindI64 {
				stack[i] = uint64(a.I64())
			} else {
				stack[i] = uint64(uint32(a.I32()))
			}
		}
		g.mem.data = g.dataOf(c)
		f.fn(g.inst, &g.mem, stack)
		g.mem.data = nil
		if results == nil {
			return nil, nil
		}
		if resultI64 {
			results[0] = wasmtime.ValI64(int64(stack[0]))
		} else {
			results[0] = wasmtime.ValI32(int32(uint32(stack[0])))
		}
		return results, nil
	}
}

// dataOf is the guest's memory for the host function running now: looked up
// per call because it moves when it grows, and found through the caller
// during instantiation (a start section), before start has it. nil if the
// module has no memory: every access is then out of bounds.
func (g *wasmtimeGuest) dataOf(c *wasmtime.Caller) []byte {
	mem := g.memory
	if mem == nil {
		if ex := c.GetExport("memory"); ex != nil {
			mem = ex.Memory()
		}
		if mem == nil {
			return nil
		}
	}
	return mem.UnsafeData(c)
}

// setBudget sets the store's epoch deadline, relative to the engine's epoch
// as the watchdog last raised it (never later than the engine's own, so the
// deadline never falls short), and, with fuel metering, the call's fuel.
func (g *wasmtimeGuest) setBudget(deadline int64, fuel uint64) {
	g.store.SetEpochDeadline(uint64(max(deadline-g.wm.ee.epoch.Load(), 1)))
	if g.wm.ee.fuel {
		_ = g.store.SetFuel(fuel) // fails only on an engine without fuel
	}
}

func (g *wasmtimeGuest) call(fn int, stack []uint64, deadline int64) error {
	fuel := uint64(initFuel)
	if fn < numFns {
		fuel = g.wm.cfg.Fuel
	}
	g.setBudget(deadline, fuel)
	var res any
	var err error
	if fn == fnInit {
		res, err = g.fns[fn].Call(g.store, int32(uint32(stack[0])))
	} else {
		res, err = g.fns[fn].Call(g.store)
	}
	if err != nil {
		return classify(err)
	}
	switch v := res.(type) {
	case int32:
		stack[0] = uint64(uint32(v))
	case int64:
		stack[0] = uint64(v)
	}
	return nil
}

// trapOutOfFuel is WASMTIME_TRAP_CODE_OUT_OF_FUEL of the C API that
// wasmtime-go v37 links (build/include/wasmtime/trap.h). wasmtime-go's own
// wasmtime.OutOfFuel is 11, which that header gives to
// WASMTIME_TRAP_CODE_ALWAYS_TRAP_ADAPTER; TestFuelCutsOffALoopBeforeTheDeadline
// fails if the numbering moves again.
const trapOutOfFuel = wasmtime.TrapCode(12)

// classify marks the traps that invoke reports other than as ErrTrap, and
// drops the native stack backtrace that wasmtime appends to a trap's message
// (frames of the host process, all "<unknown>"); the wasm backtrace stays.
func classify(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "\n\nStack backtrace:"); i >= 0 {
		msg = msg[:i]
	}
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		if code := trap.Code(); code != nil {
			switch *code {
			case wasmtime.Interrupt:
				return fmt.Errorf("%w: %s", errInterrupted, msg)
			case trapOutOfFuel:
				return fmt.Errorf("%w: %s", errOutOfFuel, msg)
			}
		}
	}
	return errors.New(msg)
}

func (g *wasmtimeGuest) memorySize() uint32 {
	if g.memory == nil || g.closed {
		return g.lastSize
	}
	return uint32(min(uint64(g.memory.DataSize(g.store)), math.MaxUint32))
}

func (g *wasmtimeGuest) readMemory(off, n uint32) ([]byte, bool) {
	if g.memory == nil || g.closed {
		return nil, false
	}
	m := byteMemory{data: g.memory.UnsafeData(g.store)}
	return m.Read(off, n)
}

func (g *wasmtimeGuest) writeMemory(off uint32, v []byte) bool {
	if g.memory == nil || g.closed {
		return false
	}
	m := byteMemory{data: g.memory.UnsafeData(g.store)}
	return m.Write(off, v)
}

// interrupt does nothing: the epoch deadline set at the call's start stops
// the call once the watchdog has advanced the engine's epoch past it.
func (g *wasmtimeGuest) interrupt() {}

// close frees the store. The memory's last size stays readable, as a closed
// wazero module's does.
func (g *wasmtimeGuest) close() {
	if g.store != nil && !g.closed {
		g.lastSize = g.memorySize()
		g.closed = true
		g.store.Close()
	}
}

// byteMemory is a guest's linear memory as a Go slice, valid during one host
// function call.
type byteMemory struct{ data []byte }

func (m *byteMemory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m.data)) {
		return nil, false
	}
	return m.data[off : off+n : off+n], true
}

func (m *byteMemory) Write(off uint32, v []byte) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m.data)) {
		return false
	}
	copy(m.data[off:], v)
	return true
}

func (m *byteMemory) WriteString(off uint32, v string) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m.data)) {
		return false
	}
	copy(m.data[off:], v)
	return true
}
