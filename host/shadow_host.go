package host

import (
	"context"
	"reflect"

	"github.com/plumemq/plume/core/hooks"
)

// setShadow gives p, the serving plugin of chain entry pc, the shadow pc
// asks for: it loads the candidate (or reloads it when its file or config
// changed) into plugins and configs under "NAME/shadow", and starts, keeps
// or replaces the workers; without pc.Shadow it stops them (the caller
// retires the candidate with the other plugins no longer configured). A
// candidate that fails to load leaves the one before it compared (or none)
// and never touches the serving plugin.
func (h *Host) setShadow(ctx context.Context, p *Plugin, pc PluginConfig, plugins map[string]*Plugin, configs map[string]PluginConfig) error {
	old := p.shadow.Load()
	if pc.Shadow == nil {
		if old != nil {
			p.dropShadow()
			h.log.Info().Str("plugin", pc.Name).Msg("shadow plugin removed")
		}
		return nil
	}
	name := shadowName(pc.Name)
	cc, prev := pc.Shadow.candidate(pc.Name), h.configs[name]
	cand := h.plugins[name]
	if cand == nil {
		cand = &Plugin{name: name, shared: newShared(int64(cc.withDefaults().KVMaxBytes))}
	}
	err := h.reloadPlugin(ctx, cand, cc, !reflect.DeepEqual(prev, cc))
	if err != nil {
		if cand.cur.Load() == nil {
			return err
		}
		cc = prev // the candidate loaded before stays compared
	}
	plugins[name], configs[name] = cand, cc
	workers, queue := max(cand.cur.Load().cfg.PoolSize, 1), pc.Shadow.queue()
	if old != nil && old.cand == cand && old.queue == queue && len(old.lanes) == workers {
		return err
	}
	var stats *shadowStats
	if old != nil {
		stats = old.stats // counts go on across a change of queue or pool
	}
	p.shadow.Store(newShadow(h.log, pc.Name, cand, queue, workers, stats))
	if old != nil {
		old.close() // what it still held is not compared
	}
	m, sm := p.cur.Load(), cand.cur.Load()
	ev := h.log.Info().Str("plugin", pc.Name).Str("candidate", name).Str("path", cc.Path).
		Str("points", pointsString(sm.points)).Int("workers", workers).Int("queue", queue)
	if only := m.points &^ sm.points &^ hooks.PointLifecycle; only != 0 {
		ev = ev.Str("not_compared", pointsString(only)) // the candidate does not implement them
	}
	if extra := sm.points &^ m.points &^ hooks.PointLifecycle; extra != 0 {
		ev = ev.Str("candidate_only", pointsString(extra)) // no event reaches them until it serves
	}
	ev.Msg("shadow plugin attached: its answers are compared, never applied")
	return err
}

// dropShadow stops p's shadow, if any.
func (p *Plugin) dropShadow() {
	if s := p.shadow.Swap(nil); s != nil {
		s.close()
	}
}

// withoutShadow is pc without its shadow: whether the serving plugin must
// be reloaded does not depend on its candidate.
func withoutShadow(pc PluginConfig) PluginConfig {
	pc.Shadow = nil
	return pc
}
