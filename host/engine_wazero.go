package host

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/plumemq/plume/host/internal/interrupt"
)

// wazeroEngine runs plugins on wazero, each module in a runtime of its own so
// that the memory cap is per plugin. Deadlines: docs/decisions/0006.
type wazeroEngine struct {
	// cache is shared by every module's runtime: on disk with a cache dir,
	// else in memory. In memory, compiled code is counted by the modules
	// using it and freed with the last, so a reload of the same binary (its
	// data files or config changed) reuses the serving module's code instead
	// of compiling it again (seconds for a Go guest; about 45 s under the
	// race detector on a loaded 2-core machine), and nothing outlives them.
	cache wazero.CompilationCache
	mode  deadlineMode
}

func newWazeroEngine(cacheDir string, mode deadlineMode) (*wazeroEngine, error) {
	e := &wazeroEngine{mode: mode, cache: wazero.NewCompilationCache()}
	if cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin cache dir %q: %w", cacheDir, err)
		}
		e.cache = c
	}
	return e, nil
}

// advance does nothing: the watchdog interrupts wazero calls one by one.
func (e *wazeroEngine) advance(int64) {}

func (e *wazeroEngine) close(ctx context.Context) error {
	if e.cache != nil {
		return e.cache.Close(ctx)
	}
	return nil
}

// wazeroModule is a module compiled in its own runtime, with WASI and the
// host functions instantiated beside it.
type wazeroModule struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	mode     deadlineMode
	inf      moduleInfo
	name     string
	seq      atomic.Uint64 // numbers instances in their names
}

func (e *wazeroEngine) compile(ctx context.Context, m *module, bin []byte) (compiled, error) {
	wm := &wazeroModule{mode: e.mode, name: m.name}
	if wm.mode == deadlineInterrupt {
		if ib, err := interrupt.Instrument(bin); err == nil {
			bin = ib
		} else {
			wm.mode = deadlineWatchdog
			m.log.Info().Err(err).Msg("module not instrumented for interrupts; using wazero's slower termination checks")
		}
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(m.cfg.MemoryPages).
		WithCloseOnContextDone(wm.mode == deadlineWatchdog || wm.mode == deadlinePerCall)
	if e.cache != nil {
		rc = rc.WithCompilationCache(e.cache)
	}
	wm.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := wm.init(ctx, m, bin); err != nil {
		_ = wm.rt.Close(ctx)
		return nil, err
	}
	return wm, nil
}

func (wm *wazeroModule) init(ctx context.Context, m *module, bin []byte) error {
	var err error
	if wm.compiled, err = wm.rt.CompileModule(ctx, bin); err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	exported := wm.compiled.ExportedFunctions()
	wm.inf.funcs = make(map[string]funcType, len(exported))
	for name, d := range exported {
		wm.inf.funcs[name] = funcType{d.ParamTypes(), d.ResultTypes()}
	}
	wm.inf.memories = map[string]bool{}
	for name := range wm.compiled.ExportedMemories() {
		wm.inf.memories[name] = true
	}
	for _, d := range wm.compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		wm.inf.imports = append(wm.inf.imports, funcImport{mod, name})
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wm.rt); err != nil {
		return fmt.Errorf("instantiate WASI: %w", err)
	}
	b := wm.rt.NewHostModuleBuilder(importModule)
	for _, f := range hostFuncs {
		b.NewFunctionBuilder().WithGoModuleFunction(wazeroHostFunc(f.fn), f.params, f.results).WithName(f.name).Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host functions: %w", err)
	}
	out := m.guestOutput()
	mc := wazero.NewModuleConfig().
		WithStdout(out).WithStderr(out).
		WithRandSource(rand.Reader).
		WithSysWalltime().WithSysNanotime() // and a sleep of each guest's own: see wazeroGuest.nanosleep
	if _, ok := exported["_initialize"]; ok {
		mc = mc.WithStartFunctions("_initialize")
	} else {
		mc = mc.WithStartFunctions()
	}
	if mounts := m.mounts(); len(mounts) > 0 {
		fsc := wazero.NewFSConfig()
		for _, mt := range mounts {
			fsc = fsc.WithReadOnlyDirMount(mt.host, mt.guest)
		}
		mc = mc.WithFSConfig(fsc)
	}
	for k, v := range m.cfg.Env {
		mc = mc.WithEnv(k, v)
	}
	wm.modCfg = mc
	return nil
}

func (wm *wazeroModule) info() *moduleInfo { return &wm.inf }

func (wm *wazeroModule) close(ctx context.Context) error { return wm.rt.Close(ctx) }

// wazeroGuest is one wazero module instance.
type wazeroGuest struct {
	inst   *instance
	wm     *wazeroModule
	mod    api.Module
	ctx    context.Context // carries the guest to host functions; cancelled to cut a call off
	cancel context.CancelFunc
	fns    [numExports]api.Function
	mem    guestMemory // mod.Memory(), converted once on the first host call

	mu   sync.Mutex        // start sets stop while the watchdog may read it
	stop api.MutableGlobal // the interrupt global; nil without instrumentation
}

// guestCtx is the context a guest's calls run with. Host functions get it
// back from wazero and find their guest by a type assertion: one long-lived
// context per instance, so no map, no allocation and no walk up a chain of
// context values per host call. Value answers guestKey too, for a context
// wrapped around it (deadlinePerCall's timeout).
type guestCtx struct {
	context.Context // cancelled to cut a call off
	g               *wazeroGuest
}

type guestKey struct{}

func (c *guestCtx) Value(key any) any {
	if key == (guestKey{}) {
		return c.g
	}
	return c.Context.Value(key)
}

func guestOf(ctx context.Context) *wazeroGuest {
	if c, ok := ctx.(*guestCtx); ok {
		return c.g
	}
	return ctx.Value(guestKey{}).(*wazeroGuest)
}

func (wm *wazeroModule) newGuest(inst *instance) guest {
	g := &wazeroGuest{inst: inst, wm: wm}
	cctx, cancel := context.WithCancel(context.Background())
	g.ctx, g.cancel = &guestCtx{Context: cctx, g: g}, cancel
	return g
}

func (g *wazeroGuest) start(ctx context.Context, _ int64) error {
	wm := g.wm
	name := fmt.Sprintf("%s#%d", wm.name, wm.seq.Add(1))
	// The deadline is enforced by the watchdog, which calls interrupt.
	mod, err := wm.rt.InstantiateModule(g.ctx, wm.compiled, wm.modCfg.WithName(name).WithNanosleep(g.nanosleep))
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	g.mod = mod
	if wm.mode == deadlineInterrupt {
		stop, ok := mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("instrumented module lacks the %s global", interrupt.Export)
		}
		g.mu.Lock()
		g.stop = stop
		g.mu.Unlock()
	}
	for i, name := range exportNames {
		if f := mod.ExportedFunction(name); f != nil {
			g.fns[i] = f
		}
	}
	return nil
}

// nanosleep is WASI's sleep for this guest (wazero's poll_oneoff calls it for
// a clock subscription): it ends early when the watchdog cuts the call off,
// and then panics, which wazero turns into the call's error, so that the
// guest's code does not run on past its deadline.
func (g *wazeroGuest) nanosleep(ns int64) {
	if !g.inst.sleep(time.Duration(ns)) {
		panic(fmt.Errorf("%w: during a WASI sleep", errInterrupted))
	}
}

func (g *wazeroGuest) call(fn int, stack []uint64, _ int64) error {
	if g.wm.mode == deadlinePerCall {
		return g.callWithTimeout(fn, stack)
	}
	return g.fns[fn].CallWithStack(g.ctx, stack)
}

// callWithTimeout is deadlinePerCall, kept for BenchmarkDeadline.
func (g *wazeroGuest) callWithTimeout(fn int, stack []uint64) error {
	ctx, cancel := context.WithTimeout(g.ctx, g.inst.m.cfg.CallTimeout)
	defer cancel()
	err := g.fns[fn].CallWithStack(ctx, stack)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %v", errInterrupted, err)
	}
	return err
}

func (g *wazeroGuest) memorySize() uint32 { return g.mod.Memory().Size() }

func (g *wazeroGuest) readMemory(off, n uint32) ([]byte, bool) {
	if g.mem == nil {
		g.mem = g.mod.Memory()
	}
	return g.mem.Read(off, n)
}

func (g *wazeroGuest) writeMemory(off uint32, v []byte) bool {
	if g.mem == nil {
		g.mem = g.mod.Memory()
	}
	return g.mem.Write(off, v)
}

func (g *wazeroGuest) interrupt() {
	g.mu.Lock()
	stop := g.stop
	g.mu.Unlock()
	if stop != nil {
		stop.Set(1)
		return
	}
	g.cancel()
}

func (g *wazeroGuest) close() {
	g.cancel()
	if g.mod != nil {
		_ = g.mod.Close(context.Background())
	}
}

// wazeroHostFunc adapts a host function to wazero's stack-based builder
// (reflection-built host functions cost ~20x more per call). The closure is
// made once per host function, not per call.
func wazeroHostFunc(fn func(*instance, guestMemory, []uint64)) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		g := guestOf(ctx)
		if g.mem == nil {
			g.mem = mod.Memory()
		}
		fn(g.inst, g.mem, stack)
	}
}
