package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host/internal/interrupt"
)

// module is one loaded version of a plugin: its own wazero runtime (so that
// memory limits are per plugin), the compiled code, what the plugin declared,
// and the pool of instances. A reload builds a new module and retires the old
// one, which closes once its last call has returned.
type module struct {
	h        *Host
	name     string
	cfg      PluginConfig
	log      zerolog.Logger
	shared   *shared
	sum      [sha256.Size]byte
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	ticks    int64 // the call deadline in watchdog ticks
	// recycleAbove is the memory size (bytes) above which an instance is
	// replaced after its call: three quarters of the cap.
	recycleAbove uint32
	mode         deadlineMode

	points  hooks.Point // declared and exported
	filters []filter    // nil: every topic
	exports [numFns]bool

	// slots holds PoolSize tokens: an idle instance, or nil where one is to
	// be made. A call takes a token and gives one back, so calls in flight
	// never exceed PoolSize and the hot path takes no lock.
	slots    chan *instance
	inflight atomic.Int64 // calls between acquire and release
	retired  atomic.Bool  // no new calls; close when inflight reaches 0
	closed   atomic.Bool  // the runtime was closed (once)
	seq      atomic.Uint64
}

// Indexes of the guest's point exports.
const (
	fnAuthenticate = iota
	fnAuthorize
	fnOnPublish
	fnTransform
	fnOnConnect
	fnOnDisconnect
	numFns
)

var fnNames = [numFns]string{exportAuthenticate, exportAuthorize, exportOnPublish, exportTransform, exportOnConnect, exportOnDisconnect}

var fnPoints = [numFns]hooks.Point{hooks.PointAuthenticate, hooks.PointAuthorize, hooks.PointOnPublish, hooks.PointTransform, hooks.PointLifecycle, hooks.PointLifecycle}

// load reads, compiles, checks and starts a plugin: the first instance runs
// its init (which may refuse the config) and the pool is filled, all before
// the module serves a call.
func (h *Host) load(ctx context.Context, cfg PluginConfig, sh *shared, bin []byte) (*module, error) {
	cfg = cfg.withDefaults()
	m := &module{
		h: h, name: cfg.Name, cfg: cfg, shared: sh, sum: sha256.Sum256(bin),
		log:   h.log.With().Str("plugin", cfg.Name).Logger(),
		slots: make(chan *instance, cfg.PoolSize),
	}
	m.ticks = h.ticksFor(cfg.CallTimeout)
	m.recycleAbove = uint32(min(uint64(cfg.MemoryPages)*65536/4*3, 1<<32-1))
	m.mode = h.mode
	if m.mode == deadlineInterrupt {
		if ib, err := interrupt.Instrument(bin); err == nil {
			bin = ib
		} else {
			m.mode = deadlineWatchdog
			m.log.Info().Err(err).Msg("module not instrumented for interrupts; using wazero's slower termination checks")
		}
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.MemoryPages).
		WithCloseOnContextDone(m.mode == deadlineWatchdog || m.mode == deadlinePerCall)
	if h.cache != nil {
		rc = rc.WithCompilationCache(h.cache)
	}
	m.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := m.start(ctx, bin); err != nil {
		_ = m.rt.Close(ctx)
		return nil, err
	}
	return m, nil
}

func (m *module) start(ctx context.Context, bin []byte) error {
	var err error
	if m.compiled, err = m.rt.CompileModule(ctx, bin); err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	if err := checkABI(m.compiled); err != nil {
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		return fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, m.rt); err != nil {
		return fmt.Errorf("instantiate host functions: %w", err)
	}
	exported := m.compiled.ExportedFunctions()
	var all hooks.Point
	for i, name := range fnNames {
		if _, ok := exported[name]; ok {
			m.exports[i] = true
			all |= fnPoints[i]
		}
	}
	out := &lineWriter{log: m.log}
	mc := wazero.NewModuleConfig().
		WithStdout(out).WithStderr(out).
		WithRandSource(rand.Reader).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	if _, ok := exported["_initialize"]; ok {
		mc = mc.WithStartFunctions("_initialize")
	} else {
		mc = mc.WithStartFunctions()
	}
	if len(m.cfg.AllowFS) > 0 {
		fsc := wazero.NewFSConfig()
		for _, dir := range m.cfg.AllowFS {
			fsc = fsc.WithReadOnlyDirMount(dir, dir)
		}
		mc = mc.WithFSConfig(fsc)
	}
	for k, v := range m.cfg.Env {
		mc = mc.WithEnv(k, v)
	}
	m.modCfg = mc

	// The first instance tells what the plugin declares; the rest fill the pool.
	first, err := m.newInstance(ctx)
	if err != nil {
		return err
	}
	decl := first.declared
	m.points = all
	if first.hasDeclared {
		m.points = hooks.Point(decl) & (all | hooks.PointLifecycle)
		for i, name := range fnNames {
			p := fnPoints[i]
			if decl&uint32(p) != 0 && p != hooks.PointLifecycle && !m.exports[i] {
				first.close()
				return fmt.Errorf("%w: plugin declares %s but does not export %s", ErrABI, p, name)
			}
		}
	}
	m.filters = first.filters
	m.slots <- first
	for len(m.slots) < m.cfg.PoolSize {
		inst, err := m.newInstance(ctx)
		if err != nil {
			m.closeIdle()
			return err
		}
		m.slots <- inst
	}
	return nil
}

// checkABI refuses, before any guest code runs, a module that does not speak
// ABI v1, naming what it found instead.
func checkABI(c wazero.CompiledModule) error {
	exported := c.ExportedFunctions()
	v, ok := exported[exportABIVersion]
	if !ok {
		names := make([]string, 0, len(exported))
		for n := range exported {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 12 {
			names = append(names[:12], "...")
		}
		return fmt.Errorf("%w: the module exports no %s function, so it is not a Plume plugin (its exports: [%s])",
			ErrABI, exportABIVersion, strings.Join(names, " "))
	}
	if err := checkSig(v, nil, []api.ValueType{i32}); err != nil {
		return err
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("%w: the module exports no memory named \"memory\"", ErrABI)
	}
	known := hostFuncNames()
	for _, imp := range c.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch {
		case mod == importModule && !known[name]:
			return fmt.Errorf("%w: the module imports %s.%s, which ABI v%d does not provide", ErrABI, mod, name, ABIVersion)
		case mod != importModule && mod != wasi_snapshot_preview1.ModuleName:
			return fmt.Errorf("%w: the module imports %s.%s; a plugin may import only from %q and %q",
				ErrABI, mod, name, importModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	if d, ok := exported[exportInit]; ok {
		if err := checkSig(d, []api.ValueType{i32}, []api.ValueType{i32}); err != nil {
			return err
		}
	}
	for i, name := range fnNames {
		d, ok := exported[name]
		if !ok {
			continue
		}
		var results []api.ValueType
		if i < fnOnConnect {
			results = []api.ValueType{i64}
		}
		if err := checkSig(d, nil, results); err != nil {
			return err
		}
	}
	return nil
}

func checkSig(d api.FunctionDefinition, params, results []api.ValueType) error {
	if !bytes.Equal(d.ParamTypes(), params) || !bytes.Equal(d.ResultTypes(), results) {
		return fmt.Errorf("%w: export %s has type (%s) -> (%s), ABI v%d wants (%s) -> (%s)", ErrABI, d.ExportNames()[0],
			typeNames(d.ParamTypes()), typeNames(d.ResultTypes()), ABIVersion, typeNames(params), typeNames(results))
	}
	return nil
}

func typeNames(ts []api.ValueType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = api.ValueTypeName(t)
	}
	return strings.Join(s, ", ")
}

// acquire takes an idle instance, or starts one while the pool is below its
// size, or waits for one. errRetired means the module closed after the caller
// picked it; the caller picks the plugin's current module again.
func (m *module) acquire(ctx context.Context) (*instance, error) {
	if m.retired.Load() {
		return nil, errRetired
	}
	m.inflight.Add(1)
	// Checked again after counting ourselves in: retire reads inflight after
	// setting retired, so one of the two sides sees the other.
	if m.retired.Load() {
		m.done()
		return nil, errRetired
	}
	var inst *instance
	select {
	case inst = <-m.slots:
	default:
		select {
		case inst = <-m.slots:
		case <-ctx.Done():
			m.done()
			return nil, ctx.Err()
		}
	}
	if m.retired.Load() { // retired while we waited for a token
		m.slots <- inst
		m.done()
		return nil, errRetired
	}
	if inst == nil {
		var err error
		if inst, err = m.newInstance(ctx); err != nil {
			m.slots <- nil
			m.done()
			return nil, err
		}
	}
	return inst, nil
}

// release gives the call's token back: the instance, or nil when it was
// discarded (trap, deadline) or the module retired meanwhile.
func (m *module) release(inst *instance, healthy bool) {
	if healthy && !m.retired.Load() {
		m.slots <- inst
	} else {
		inst.close()
		m.slots <- nil
	}
	m.done()
}

func (m *module) done() {
	if m.inflight.Add(-1) == 0 && m.retired.Load() && m.closed.CompareAndSwap(false, true) {
		m.closeRuntime()
	}
}

// retire stops the module taking new calls; it closes when calls in flight
// have returned. Idle instances are closed now (their tokens become nil, so a
// caller that was already waiting still gets one, sees the retirement and
// moves to the new module).
func (m *module) retire() {
	m.retired.Store(true)
	m.closeIdle()
	if m.inflight.Load() == 0 && m.closed.CompareAndSwap(false, true) {
		m.closeRuntime()
	}
}

// closeIdle closes the instances waiting in the pool, leaving nil tokens.
func (m *module) closeIdle() {
	for n := len(m.slots); n > 0; n-- {
		var inst *instance
		select {
		case inst = <-m.slots:
		default:
			return
		}
		if inst != nil {
			inst.close()
		}
		m.slots <- nil
	}
}

func (m *module) closeRuntime() {
	if err := m.rt.Close(context.Background()); err != nil {
		m.log.Warn().Err(err).Msg("close plugin runtime")
	}
}

// lineWriter logs what a guest writes to stdout or stderr (a Go panic's
// message, a Rust panic's), one log line per line written.
type lineWriter struct {
	log zerolog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Warn().Str("stream", "guest").Msg(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.log.Warn().Str("stream", "guest").Msg(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
