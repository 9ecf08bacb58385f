// Package host runs Plume's WebAssembly plugins: it compiles them with wazero,
// or wasmtime in a binary built with -tags wasmtime (caching compiled code on
// disk either way), checks that they speak ABI v1
// (plugin-sdk/ABI.md), keeps a pool of instances per plugin, enforces memory
// and time limits, contains traps, and reloads a plugin when its file changes.
//
// A Host turns the plugin section of the broker config into a *hooks.Chain,
// one Plugin per configured plugin in config order:
//
//	h, err := host.New(ctx, log, host.Config{CacheDir: dir, Plugins: plugins})
//	broker.Hooks = h.Chain()
//	...
//	err = h.Reload(ctx, newCfg) // on SIGHUP or a changed config
//	err = h.Close(ctx)
package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/setting"
)

// Host owns the plugins of one broker: their modules, pools, shared state,
// the watchdog that enforces call deadlines and the watcher of their files.
type Host struct {
	log   zerolog.Logger
	logs  logLimits // plugin-caused lines, rate-limited (lograte.go)
	eng   engine
	chain *hooks.Chain

	start  time.Time // epoch 1 begins; see now
	instMu sync.Mutex
	insts  map[*instance]struct{}

	stop    chan struct{}
	wg      sync.WaitGroup
	watcher *fsnotify.Watcher
	paths   atomic.Pointer[watchIndex]

	mu      sync.Mutex // serializes loads, reloads and Close
	cfg     Config
	plugins map[string]*Plugin
	configs map[string]PluginConfig
	watched map[string]bool // directories
	closed  bool
	events  func(Event) // WithEvents; nil: none (events.go)
}

// New loads every plugin of cfg, in order, and starts watching their files.
// It fails if any plugin fails to load: a broker should not start with a
// policy missing.
func New(ctx context.Context, log zerolog.Logger, cfg Config, opts ...Option) (*Host, error) {
	return newHost(ctx, log, cfg, deadlineInterrupt, opts...)
}

func newHost(ctx context.Context, log zerolog.Logger, cfg Config, mode deadlineMode, opts ...Option) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	if cfg.engine() == EngineWasmtime && !wasmtimeBuilt {
		return nil, fmt.Errorf("plugin config: %w", setting.In("engine", ErrEngineNotBuilt))
	}
	h := &Host{
		log: log, logs: newLogLimits(log), start: time.Now(), insts: map[*instance]struct{}{}, stop: make(chan struct{}),
		plugins: map[string]*Plugin{}, configs: map[string]PluginConfig{}, watched: map[string]bool{},
		cfg: cfg,
	}
	for _, o := range opts {
		o(h)
	}
	eng, err := newEngine(cfg.Engine, cfg.CacheDir, mode)
	if err != nil {
		return nil, err
	}
	h.eng = eng
	w, err := fsnotify.NewWatcher()
	if err != nil {
		_ = eng.close(ctx)
		return nil, fmt.Errorf("watch plugin files: %w", err)
	}
	h.watcher = w
	h.wg.Add(2)
	go h.watchdog()
	go h.watchFiles()

	links := make([]hooks.Link, 0, len(cfg.Plugins))
	for _, pc := range cfg.Plugins {
		p := &Plugin{name: pc.Name, shared: newShared(int64(pc.withDefaults().KVMaxBytes))}
		m, err := h.loadFile(ctx, pc, p.shared)
		if err != nil {
			h.emitFailure(pc, nil, "load", err)
			_ = h.Close(ctx)
			return nil, fmt.Errorf("load plugin %q from %s: %w", pc.Name, pc.Path, err)
		}
		p.cur.Store(m)
		p.loaded(time.Now())
		h.plugins[pc.Name], h.configs[pc.Name] = p, pc
		links = append(links, hooks.Link{Name: pc.Name, Hooks: p, OnError: pc.OnError.failure()})
		withFiles(h.log.Info().Str("plugin", pc.Name).Str("path", pc.Path), m.files.paths()).Str("points", pointsString(m.points)).Msg("plugin loaded")
		h.emit(Event{Kind: PluginLoaded, Plugin: pc.Name, Path: pc.Path, Hash: m.hash()})
		if err := h.setShadow(ctx, p, pc, h.plugins, h.configs); err != nil {
			_ = h.Close(ctx)
			return nil, fmt.Errorf("load the shadow of plugin %q from %s: %w", pc.Name, pc.Shadow.Path, err)
		}
	}
	h.chain = hooks.NewChain(log, links...)
	h.mu.Lock()
	h.updateWatches()
	h.mu.Unlock()
	return h, nil
}

// Chain is the chain of the configured plugins, for the broker to call.
func (h *Host) Chain() *hooks.Chain { return h.chain }

// Plugins returns the configured plugins in chain order.
func (h *Host) Plugins() []*Plugin {
	var ps []*Plugin
	for _, l := range h.chain.Links() {
		ps = append(ps, l.Hooks.(*Plugin))
	}
	return ps
}

// Plugin returns the configured plugin called name, or nil.
func (h *Host) Plugin(name string) *Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.plugins[name]
}

func (h *Host) loadFile(ctx context.Context, pc PluginConfig, sh *shared) (*module, error) {
	bin, files, err := readSources(pc)
	if err != nil {
		return nil, err
	}
	return h.load(ctx, pc, sh, bin, files)
}

// readSources returns pc's module (its Wasm, or the file at its Path) and
// its data files as they are now.
func readSources(pc PluginConfig) ([]byte, *dataFiles, error) {
	files, err := readDataFiles(pc)
	if err != nil {
		return nil, nil, err
	}
	if pc.Wasm != nil {
		return pc.Wasm, files, nil
	}
	bin, err := os.ReadFile(pc.Path)
	return bin, files, err
}

// Reload applies cfg: plugins whose file or config changed are loaded anew,
// new ones are added, missing ones removed, and the chain takes the new
// order in one swap. A plugin that fails to load keeps its old module serving
// (or, if new, stays out of the chain); the errors are logged and returned.
func (h *Host) Reload(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("plugin config: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("plugin host closed")
	}
	var errs []error
	if cfg.engine() != h.cfg.engine() {
		errs = append(errs, fmt.Errorf("engine: changing %s to %s needs a restart; the plugins stay on %s",
			h.cfg.engine(), cfg.engine(), h.cfg.engine()))
	}
	plugins := map[string]*Plugin{}
	configs := map[string]PluginConfig{}
	links := make([]hooks.Link, 0, len(cfg.Plugins))
	for _, pc := range cfg.Plugins {
		p, old := h.plugins[pc.Name], h.configs[pc.Name]
		if p == nil {
			p = &Plugin{name: pc.Name, shared: newShared(int64(pc.withDefaults().KVMaxBytes))}
		}
		want := pc
		err := h.reloadPlugin(ctx, p, pc, !reflect.DeepEqual(withoutShadow(old), withoutShadow(pc)))
		if err != nil {
			errs = append(errs, fmt.Errorf("reload plugin %q: %w", pc.Name, err))
			if p.cur.Load() == nil {
				continue
			}
			pc = old // it keeps serving as it was
		}
		plugins[pc.Name], configs[pc.Name] = p, pc
		links = append(links, hooks.Link{Name: pc.Name, Hooks: p, OnError: pc.OnError.failure()})
		if err := h.setShadow(ctx, p, want, plugins, configs); err != nil {
			errs = append(errs, fmt.Errorf("reload the shadow of plugin %q: %w", pc.Name, err))
		}
	}
	h.chain.Swap(links)
	for name, p := range h.plugins {
		if plugins[name] == nil {
			p.dropShadow()
			p.cur.Load().retire()
			h.log.Info().Str("plugin", name).Msg("plugin removed")
		}
	}
	h.plugins, h.configs = plugins, configs
	h.cfg.Plugins = cfg.Plugins
	h.updateWatches()
	return errors.Join(errs...)
}

// reloadPlugin loads p's file anew unless neither it nor the config changed,
// and swaps the module in. On failure the old module keeps serving.
func (h *Host) reloadPlugin(ctx context.Context, p *Plugin, pc PluginConfig, configChanged bool) error {
	err := h.swapModule(ctx, p, pc, configChanged)
	if err != nil {
		p.metrics.reloadFailures.Add(1)
		ev := withFiles(h.log.Error().Err(err).Str("plugin", pc.Name).Str("path", pc.Path), pc.filePaths())
		if p.cur.Load() != nil {
			ev.Msg("plugin reload failed; the old module keeps serving")
			h.emitFailure(pc, p.cur.Load(), "reload", err)
		} else {
			ev.Msg("plugin load failed")
			h.emitFailure(pc, nil, "load", err)
		}
	}
	if h.cfg.OnReload != nil {
		h.cfg.OnReload(pc.Name, err)
	}
	return err
}

func (h *Host) swapModule(ctx context.Context, p *Plugin, pc PluginConfig, configChanged bool) error {
	bin, files, err := readSources(pc)
	if err != nil {
		return err
	}
	old := p.cur.Load()
	if old != nil && !configChanged && old.sum == sha256.Sum256(bin) && old.files.sumOrZero() == files.sumOrZero() {
		return nil
	}
	m, err := h.load(ctx, pc, p.shared, bin, files)
	if err != nil {
		return err
	}
	p.cur.Store(m)
	p.loaded(time.Now())
	p.shared.setLimit(int64(m.cfg.KVMaxBytes))
	if old != nil {
		p.metrics.reloads.Add(1)
		old.retire()
		withFiles(h.log.Info().Str("plugin", pc.Name).Str("path", pc.Path), files.paths()).Str("points", pointsString(m.points)).Msg("plugin reloaded")
		h.emit(Event{Kind: PluginSwapped, Plugin: pc.Name, Path: pc.Path, Hash: m.hash(), OldHash: old.hash()})
	} else {
		h.emit(Event{Kind: PluginLoaded, Plugin: pc.Name, Path: pc.Path, Hash: m.hash()})
	}
	return nil
}

// reloadFile reloads the plugins loaded from path after it changed.
func (h *Host) reloadFile(ctx context.Context, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.plugins[name]
	if h.closed || !ok {
		return
	}
	if err := h.reloadPlugin(ctx, p, h.configs[name], false); err == nil {
		h.chain.Swap(h.chain.Links()) // the points provided may have changed
	}
}

// Close stops watching and retires every module (each closes when its calls
// in flight return). Later calls through the chain fail, and the chain's
// failure policies apply (authenticate and authorize deny by default).
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.stop)
	err := h.watcher.Close()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.plugins {
		p.dropShadow() // its workers end before the candidate's module is retired
	}
	for _, p := range h.plugins {
		p.closed.Store(true)
		p.cur.Load().retire()
	}
	h.logs.close()
	return errors.Join(err, h.eng.close(ctx))
}

// watchIndex tells the watcher which plugins an event concerns.
type watchIndex struct {
	modules map[string][]string // cleaned .wasm path -> plugin names
	// data maps the folder of each data file to the plugins reading one
	// there. Any change in such a folder makes those plugins read their files
	// again, and reload only if a file's bytes changed: a Kubernetes
	// ConfigMap is updated by swapping a symbolic link beside the file,
	// which no event on the file's own name reports.
	data map[string][]string
}

// updateWatches watches the directory of every plugin file and data file:
// editors and build tools replace a file by renaming another over it, which
// a watch on the file itself would not survive.
func (h *Host) updateWatches() {
	idx := &watchIndex{modules: map[string][]string{}, data: map[string][]string{}}
	dirs := map[string]bool{}
	for name, pc := range h.configs {
		for _, f := range pc.filePaths() {
			d := filepath.Dir(f)
			if !slices.Contains(idx.data[d], name) {
				idx.data[d] = append(idx.data[d], name)
			}
			dirs[d] = true
		}
		if pc.Wasm != nil {
			continue // built in: no module file to watch
		}
		abs, err := filepath.Abs(pc.Path)
		if err != nil {
			continue
		}
		idx.modules[abs] = append(idx.modules[abs], name)
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if !h.watched[d] {
			if err := h.watcher.Add(d); err != nil {
				h.log.Warn().Err(err).Str("dir", d).Msg("cannot watch plugin directory; reload with SIGHUP")
				continue
			}
			h.watched[d] = true
		}
	}
	for d := range h.watched {
		if !dirs[d] {
			_ = h.watcher.Remove(d)
			delete(h.watched, d)
		}
	}
	h.paths.Store(idx)
}

// watchFiles collects changes to plugin files and reloads each changed plugin
// once its file has been quiet for the debounce time, so a file being
// copied over is read only when complete.
func (h *Host) watchFiles() {
	defer h.wg.Done()
	debounce := h.cfg.ReloadDebounce
	if debounce <= 0 {
		debounce = DefaultReloadDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := map[string]bool{}
	for {
		select {
		case <-h.stop:
			timer.Stop()
			return
		case ev, ok := <-h.watcher.Events:
			if !ok {
				return
			}
			idx, name := h.paths.Load(), filepath.Clean(ev.Name)
			if ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create) {
				for _, p := range idx.modules[name] {
					pending[p] = true
				}
			}
			// A data file removed or renamed away is reported too: the reload
			// fails, the old module keeps serving and the log names the file.
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 {
				for _, p := range idx.data[filepath.Dir(name)] {
					pending[p] = true
				}
			}
			if len(pending) > 0 {
				timer.Reset(debounce)
			}
		case err, ok := <-h.watcher.Errors:
			if !ok {
				return
			}
			h.log.Warn().Err(err).Msg("plugin file watcher")
		case <-timer.C:
			for name := range pending {
				h.reloadFile(context.Background(), name)
				delete(pending, name)
			}
		}
	}
}

// withFiles adds a plugin's data files to a log line, if it has any.
func withFiles(ev *zerolog.Event, files []string) *zerolog.Event {
	if len(files) == 0 {
		return ev
	}
	return ev.Strs("files", files)
}

func pointsString(p hooks.Point) string {
	s := ""
	for q := hooks.PointAuthenticate; q <= hooks.PointLifecycle; q <<= 1 {
		if p&q != 0 {
			if s != "" {
				s += ","
			}
			s += q.String()
		}
	}
	return s
}
