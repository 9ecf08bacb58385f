package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero/api"

	"github.com/plumemq/plume/core/hooks"
)

// module is one loaded version of a plugin: its compiled code (in a runtime
// of its own where the engine needs one for per-plugin memory limits), what
// the plugin declared, and the pool of instances. A reload builds a new module
// and retires the old one, which closes once its last call has returned.
type module struct {
	h      *Host
	name   string
	cfg    PluginConfig
	log    zerolog.Logger
	shared *shared
	sum    [sha256.Size]byte
	loaded time.Time // when load made it (Plugin.Info)
	code   compiled
	files  *dataFiles // nil: the plugin names no data files
	ticks  int64      // the call deadline in watchdog ticks
	// recycleAbove is the memory size (bytes) above which an instance is
	// replaced after its call: three quarters of the cap.
	recycleAbove uint32

	points  hooks.Point // declared and exported
	filters []filter    // nil: every topic
	exports [numFns]bool

	pool     *pool        // PoolSize instances, idle or in a call; see pool.go
	inflight atomic.Int64 // calls between acquire and release
	retired  atomic.Bool  // no new calls; close when inflight reaches 0
	closed   atomic.Bool  // the runtime was closed (once)
}

// Indexes of the guest's point exports; exportNames (engine.go) names them.
const (
	fnAuthenticate = iota
	fnAuthorize
	fnOnPublish
	fnTransform
	fnOnConnect
	fnOnDisconnect
	numFns
)

var fnPoints = [numFns]hooks.Point{hooks.PointAuthenticate, hooks.PointAuthorize, hooks.PointOnPublish, hooks.PointTransform, hooks.PointLifecycle, hooks.PointLifecycle}

// load compiles, checks and starts a plugin, with its data files (nil:
// none) in a snapshot of their own: the first instance runs its init (which
// may refuse the config or a file) and the pool is filled, all before the
// module serves a call.
func (h *Host) load(ctx context.Context, cfg PluginConfig, sh *shared, bin []byte, files *dataFiles) (*module, error) {
	cfg = cfg.withDefaults()
	m := &module{
		h: h, name: cfg.Name, cfg: cfg, shared: sh, sum: sha256.Sum256(bin), files: files, loaded: time.Now(),
		log:  h.log.With().Str("plugin", cfg.Name).Logger(),
		pool: newPool(cfg.PoolSize),
	}
	m.ticks = h.ticksFor(cfg.CallTimeout)
	m.recycleAbove = uint32(min(uint64(cfg.MemoryPages)*65536/4*3, 1<<32-1))
	if files != nil {
		c, err := files.write(cfg.Config)
		if err != nil {
			m.removeFiles()
			return nil, err
		}
		m.cfg.Config = c
	}
	code, err := h.eng.compile(ctx, m, bin)
	if err != nil {
		m.removeFiles()
		return nil, err
	}
	m.code = code
	err = checkABI(code.info())
	if err == nil {
		err = m.start(ctx)
	}
	if err != nil {
		m.closeRuntime()
		return nil, err
	}
	return m, nil
}

func (m *module) start(ctx context.Context) error {
	exported := m.code.info().funcs
	var all hooks.Point
	for i, name := range exportNames[:numFns] {
		if _, ok := exported[name]; ok {
			m.exports[i] = true
			all |= fnPoints[i]
		}
	}

	// The first instance tells what the plugin declares; the rest fill the pool.
	first, err := m.newInstance(ctx)
	if err != nil {
		return err
	}
	decl := first.declared
	m.points = all
	if first.hasDeclared {
		m.points = hooks.Point(decl) & (all | hooks.PointLifecycle)
		for i, name := range exportNames[:numFns] {
			p := fnPoints[i]
			if decl&uint32(p) != 0 && p != hooks.PointLifecycle && !m.exports[i] {
				first.close()
				return fmt.Errorf("%w: plugin declares %s but does not export %s", ErrABI, p, name)
			}
		}
	}
	m.filters = first.filters
	m.pool.takeSpare()
	m.pool.put(first)
	for m.pool.takeSpare() {
		inst, err := m.newInstance(ctx)
		if err != nil {
			m.pool.giveSpare()
			m.closeIdle()
			return err
		}
		m.pool.put(inst)
	}
	return nil
}

// checkABI refuses, before any guest code runs, a module that does not speak
// ABI v1, naming what it found instead. It reads what the engine reported of
// the module, so that every engine refuses with the same words.
func checkABI(mi *moduleInfo) error {
	exported := mi.funcs
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
	if err := checkSig(exportABIVersion, v, nil, []api.ValueType{i32}); err != nil {
		return err
	}
	if !mi.memories["memory"] {
		return fmt.Errorf("%w: the module exports no memory named \"memory\"", ErrABI)
	}
	known := hostFuncNames()
	for _, imp := range mi.imports {
		mod, name := imp.module, imp.name
		switch {
		case mod == importModule && !known[name]:
			return fmt.Errorf("%w: the module imports %s.%s, which ABI v%d does not provide", ErrABI, mod, name, ABIVersion)
		case mod != importModule && mod != wasiModule:
			return fmt.Errorf("%w: the module imports %s.%s; a plugin may import only from %q and %q",
				ErrABI, mod, name, importModule, wasiModule)
		}
	}
	if d, ok := exported[exportInit]; ok {
		if err := checkSig(exportInit, d, []api.ValueType{i32}, []api.ValueType{i32}); err != nil {
			return err
		}
	}
	for i, name := range exportNames[:numFns] {
		d, ok := exported[name]
		if !ok {
			continue
		}
		var results []api.ValueType
		if i < fnOnConnect {
			results = []api.ValueType{i64}
		}
		if err := checkSig(name, d, nil, results); err != nil {
			return err
		}
	}
	return nil
}

// wasiModule is the import module of WASI preview 1.
const wasiModule = "wasi_snapshot_preview1"

func checkSig(name string, d funcType, params, results []api.ValueType) error {
	if !bytes.Equal(d.params, params) || !bytes.Equal(d.results, results) {
		return fmt.Errorf("%w: export %s has type (%s) -> (%s), ABI v%d wants (%s) -> (%s)", ErrABI, name,
			typeNames(d.params), typeNames(d.results), ABIVersion, typeNames(params), typeNames(results))
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
// size, or waits for one, for at most the call deadline (then ErrBusy).
// errRetired means the module closed after the caller picked it; the caller
// picks the plugin's current module again.
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
	if inst := m.pool.take(); inst != nil {
		return inst, nil // the common case, kept free of the slow path's timer
	}
	return m.await(ctx)
}

// await is acquire's slow path: start an instance if a spare token allows,
// or wait for a release, at most the call deadline. The caller is counted in
// inflight.
func (m *module) await(ctx context.Context) (*instance, error) {
	waiting := false
	var timer *time.Timer
	for {
		if inst := m.pool.take(); inst != nil {
			if waiting {
				m.pool.waiters.Add(-1)
			}
			return inst, nil
		}
		if m.pool.takeSpare() {
			if waiting {
				m.pool.waiters.Add(-1)
			}
			inst, err := m.newInstance(ctx)
			if err != nil {
				m.pool.giveSpare()
				m.done()
				return nil, err
			}
			return inst, nil
		}
		if !waiting {
			// Count in, then look once more before sleeping (see pool.signal).
			m.pool.waiters.Add(1)
			waiting = true
			continue
		}
		if timer == nil {
			// The wait is bounded by the call deadline: instances held by
			// calls that overrun are freed at theirs, and a caller must not
			// queue behind them longer than its own call may take.
			timer = time.NewTimer(m.cfg.CallTimeout)
			defer timer.Stop()
		}
		err := m.pool.wait(ctx, timer.C)
		if errors.Is(err, ErrBusy) {
			err = fmt.Errorf("%w (%s, %d instances)", err, m.cfg.CallTimeout, m.cfg.PoolSize)
		}
		if err == nil && m.retired.Load() {
			err = errRetired
		}
		if err != nil {
			m.pool.waiters.Add(-1)
			m.done()
			return nil, err
		}
	}
}

// release gives the call's instance back, or closes it when it was
// discarded (trap, deadline) or the module retired meanwhile.
func (m *module) release(inst *instance, healthy bool) {
	if healthy && !m.retired.Load() {
		m.pool.put(inst)
		if m.retired.Load() {
			m.closeIdle() // retire may have drained the pool before our put
		}
	} else {
		inst.close()
		m.pool.giveSpare()
	}
	m.done()
}

func (m *module) done() {
	if m.inflight.Add(-1) == 0 && m.retired.Load() && m.closed.CompareAndSwap(false, true) {
		m.closeRuntime()
	}
}

// retire stops the module taking new calls; it closes when calls in flight
// have returned. Idle instances are closed now, and waiting callers woken:
// they see the retirement and move to the new module.
func (m *module) retire() {
	m.retired.Store(true)
	m.closeIdle()
	m.pool.wakeAll()
	if m.inflight.Load() == 0 && m.closed.CompareAndSwap(false, true) {
		m.closeRuntime()
	}
}

// closeIdle closes the instances waiting in the pool.
func (m *module) closeIdle() {
	for _, inst := range m.pool.drain() {
		inst.close()
	}
}

func (m *module) closeRuntime() {
	if err := m.code.close(context.Background()); err != nil {
		m.log.Warn().Err(err).Msg("close plugin runtime")
	}
	m.removeFiles()
}

// removeFiles deletes the module's snapshot of its data files: no instance
// of it will start again.
func (m *module) removeFiles() {
	if err := m.files.remove(); err != nil {
		m.log.Warn().Err(err).Msg("remove the snapshot of the plugin's data files")
	}
}

// mounts are the folders mounted read-only in the guest: allow_fs, each at
// its own path, then the snapshot of the data files.
func (m *module) mounts() []mount {
	var out []mount
	for _, dir := range m.cfg.AllowFS {
		out = append(out, mount{host: dir, guest: dir})
	}
	if m.files != nil {
		out = append(out, m.files.mounts...)
	}
	return out
}

// lineWriter logs what a guest writes to stdout or stderr (a Go panic's
// message, a Rust panic's), one log line per line written.
type lineWriter struct {
	log zerolog.Logger
	m   *module // rate-limits the lines per plugin; nil writes every line
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) line(s []byte) {
	ev := w.log.Warn()
	if w.m != nil {
		ev = w.m.lineEvent(zerolog.WarnLevel, "guest")
	}
	if ev != nil {
		ev.Str("stream", "guest").Msg(string(s))
	}
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
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
