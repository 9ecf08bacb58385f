package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Engine names for Config.Engine.
const (
	// EngineWazero runs plugins on wazero: pure Go, no cgo. The default.
	EngineWazero = "wazero"
	// EngineWasmtime runs plugins on wasmtime (through wasmtime-go and cgo),
	// for comparison and for fuel metering; only in a binary built with
	// -tags wasmtime (see docs/decisions/0008-wasmtime-engine.md).
	EngineWasmtime = "wasmtime"
)

// ErrEngineNotBuilt reports a Config.Engine that this binary was built
// without.
var ErrEngineNotBuilt = errors.New("this plume was built without the wasmtime engine; build with -tags wasmtime")

// Engines lists the engines built into this binary, the default first.
func Engines() []string {
	if wasmtimeBuilt {
		return []string{EngineWazero, EngineWasmtime}
	}
	return []string{EngineWazero}
}

// engine is the WebAssembly runtime under a Host. Everything that makes a
// plugin a Plume plugin — the ABI check, the pools, the host functions, the
// deadlines' bookkeeping, traps and reloads — is written once above this seam;
// an engine compiles, instantiates and calls. docs/decisions/0008 says why
// the seam has this shape.
type engine interface {
	// compile compiles bin for m (its config and log), through the disk
	// cache when the Host has one, and reads its imports and exports.
	compile(ctx context.Context, m *module, bin []byte) (compiled, error)
	// advance is called by the watchdog every tick with the current epoch
	// (Host.now); an engine that interrupts by epochs catches up to it.
	advance(epoch int64)
	close(ctx context.Context) error
}

// compiled is one plugin module compiled by an engine.
type compiled interface {
	info() *moduleInfo
	// newGuest prepares an instance for inst; start instantiates it. They are
	// two steps so that inst.g is set before the watchdog can see inst.
	newGuest(inst *instance) guest
	// close releases the compiled code; every guest is closed by then.
	close(ctx context.Context) error
}

// guest is one instance of a module inside its engine. It serves one call at
// a time: only the watchdog's interrupt may come from another goroutine.
type guest interface {
	// start instantiates the module with WASI and the host functions and runs
	// its _initialize, if it exports one, before epoch deadline.
	start(ctx context.Context, deadline int64) error
	// call runs export fn (fnAuthenticate... fnInit) with its parameters in
	// stack and leaves its result in stack[0]. deadline is the epoch past
	// which the call is cut off; a call cut off returns an error wrapping
	// errInterrupted, one out of fuel an error wrapping errOutOfFuel.
	call(fn int, stack []uint64, deadline int64) error
	// memorySize is the size of the instance's linear memory in bytes.
	memorySize() uint32
	// writeMemory copies v into the instance's memory at off, between
	// calls; false if that lies outside it.
	writeMemory(off uint32, v []byte) bool
	// readMemory returns a view of n bytes of the instance's memory at off,
	// between calls, valid until the next call; false if outside it.
	readMemory(off, n uint32) ([]byte, bool)
	// interrupt cuts off the running call, from the watchdog's goroutine,
	// for engines that the watchdog interrupts. The instance is dead after.
	interrupt()
	close()
}

// guestMemory is what host functions need of a guest's linear memory: wazero's
// api.Memory has these methods, so the wazero engine hands its memory over as
// it is. Reads return a view into guest memory, valid until the host function
// returns.
type guestMemory interface {
	Read(offset, n uint32) ([]byte, bool)
	Write(offset uint32, v []byte) bool
	WriteString(offset uint32, v string) bool
}

// moduleInfo is what the host checks of a module before running any of its
// code: its exported functions and memories and its imported functions.
// Value types use WebAssembly's binary encoding, as wazero's api.ValueType does.
type moduleInfo struct {
	funcs    map[string]funcType
	memories map[string]bool
	imports  []funcImport
}

type funcType struct{ params, results []api.ValueType }

type funcImport struct{ module, name string }

// Errors a guest's call wraps so that invoke can tell why it stopped.
var (
	errInterrupted = errors.New("interrupted")
	errOutOfFuel   = errors.New("out of fuel")
)

// Indexes of the guest exports an engine resolves: the points (fnAuthenticate
// to fnOnDisconnect) and then the two the host calls while starting an
// instance.
const (
	fnABIVersion = numFns + iota
	fnInit
	numExports
)

var exportNames = [numExports]string{
	exportAuthenticate, exportAuthorize, exportOnPublish, exportTransform, exportOnConnect, exportOnDisconnect,
	exportABIVersion, exportInit,
}

// newEngine returns the engine called name ("" is the default).
func newEngine(name string, cacheDir string, mode deadlineMode) (engine, error) {
	switch name {
	case "", EngineWazero:
		return newWazeroEngine(cacheDir, mode)
	case EngineWasmtime:
		return newWasmtimeEngine(cacheDir)
	}
	return nil, fmt.Errorf("engine: %q is not %s or %s", name, EngineWazero, EngineWasmtime)
}
