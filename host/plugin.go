package host

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

var (
	errRetired = errors.New("module retired")
	errGone    = errors.New("plugin removed")
	// ErrClosed reports a call to a plugin of a closed Host.
	ErrClosed = errors.New("plugin host closed")
)

// Plugin is one configured plugin as the chain sees it: a hooks.Hooks that
// calls the plugin's current module. A reload replaces the module under it
// atomically; the Plugin, its key-value store and its per-client state stay.
type Plugin struct {
	name   string
	cur    atomic.Pointer[module]
	shared *shared
	closed atomic.Bool            // the Host was closed: calls fail (and the chain's policy applies)
	shadow atomic.Pointer[shadow] // the candidate compared with it, or nil (shadow.go)

	metrics pluginCounters // metrics.go
}

var _ hooks.Hooks = (*Plugin)(nil)

// Name is the plugin's configured name.
func (p *Plugin) Name() string { return p.name }

// Traps counts the calls that trapped or overran their deadline; each cost
// one instance, replaced by a fresh one. It is the sum of the per-export
// counters (metrics.go), which count every discarded instance once.
func (p *Plugin) Traps() uint64 {
	var n uint64
	for i := range p.metrics.points {
		pc := &p.metrics.points[i]
		n += pc.traps.Load() + pc.deadlines.Load()
	}
	return n
}

// Provides reports whether the current module declared pt. Lifecycle is
// always provided: the host drops a client's state when it disconnects.
func (p *Plugin) Provides(pt hooks.Point) bool {
	return pt == hooks.PointLifecycle || p.cur.Load().points&pt != 0
}

// begin picks the current module and one of its instances. A nil instance
// with a nil error means the current module does not implement fn.
func (p *Plugin) begin(ctx context.Context, fn int) (*module, *instance, error) {
	if err := ctx.Err(); err != nil {
		p.metrics.points[fn].notCalled()
		return nil, nil, err
	}
	for {
		m := p.cur.Load()
		if !m.exports[fn] || m.points&fnPoints[fn] == 0 {
			return nil, nil, nil
		}
		inst, err := m.acquire(ctx)
		if errors.Is(err, errRetired) {
			switch {
			case p.closed.Load():
				p.metrics.points[fn].notCalled()
				return nil, nil, ErrClosed
			case p.cur.Load() == m:
				return nil, nil, errGone
			}
			continue
		}
		if err != nil {
			p.metrics.points[fn].notCalled() // no instance free for the whole deadline
		}
		return m, inst, err
	}
}

// end resets the instance's call state and returns it to its pool, or
// discards it, counting and logging why.
func (p *Plugin) end(m *module, inst *instance, healthy bool, pt hooks.Point, client *hooks.Client, err error) {
	p.metrics.points[inst.fn].called(inst.took, healthy, err)
	inst.c.reset()
	if healthy {
		if size := inst.g.memorySize(); size > m.recycleAbove {
			// Wasm memory never shrinks: an instance that has grown close to
			// its cap is replaced before it runs out, off the next caller's path.
			m.log.Debug().Uint32("memory_bytes", size).Msg("plugin instance recycled")
			m.release(inst, false)
			return
		}
	} else {
		n := p.Traps() // end counted it first
		m.emitTrap(pt.String(), err)
		if ev := m.trapEvent(pt.String()); ev != nil {
			ev = ev.Err(err).Str("point", pt.String()).Uint64("traps", n)
			if client != nil {
				ev = ev.Str("client_id", client.ID).Str("remote", client.RemoteAddr)
			}
			ev.Msg("plugin instance discarded; the next call gets a fresh one")
		}
	}
	m.release(inst, healthy)
}

// failed turns a negative result into an error carrying the plugin's message.
func failed(c *call, res uint64) error {
	msg := c.errMsg
	if msg == "" {
		msg = fmt.Sprintf("code %d", int64(res))
	}
	return fmt.Errorf("%w: %s", ErrPluginFailed, msg)
}

func badResult(what string, res uint64) error {
	return fmt.Errorf("%w: %s result %#x is outside ABI v%d", ErrABI, what, res, ABIVersion)
}

// authenticate calls plume_authenticate.
func (p *Plugin) authenticate(ctx context.Context, req *hooks.AuthRequest) (hooks.AuthResult, error) {
	m, inst, err := p.begin(ctx, fnAuthenticate)
	if inst == nil {
		return hooks.AuthResult{}, ignoreGone(err)
	}
	c := &inst.c
	c.point, c.kind, c.client, c.auth = byte(hooks.PointAuthenticate), byte(req.Step), req.Client, req
	c.shared = p.shared
	res, healthy, err := inst.invoke(fnAuthenticate)
	var out hooks.AuthResult
	if err == nil {
		out, err = authResult(c, res)
	}
	p.end(m, inst, healthy, hooks.PointAuthenticate, req.Client, err)
	if err != nil {
		return hooks.AuthResult{}, err
	}
	if out.Verdict == hooks.Deny {
		p.shared.forget(req.Client) // a refused client never disconnects
	}
	return out, nil
}

func authResult(c *call, res uint64) (hooks.AuthResult, error) {
	if int64(res) < 0 {
		return hooks.AuthResult{}, failed(c, res)
	}
	out := hooks.AuthResult{Reason: packets.ReasonCode(res >> 8), ReasonString: c.reasonString}
	switch byte(res) {
	case outcomePass:
	case outcomeAllow:
		out.Verdict = hooks.Allow
	case outcomeDeny:
		out.Verdict = hooks.Deny
	case outcomeContinue:
		out.Continue, out.Data = true, c.authData
	default:
		return out, badResult("authenticate", res)
	}
	if c.changed&setPrincipal != 0 {
		out.Principal = c.principal
	}
	if c.changed&setAttrs != 0 {
		out.Attributes = make(map[string]string, len(c.attrs))
		for _, a := range c.attrs {
			out.Attributes[a.Key] = a.Value
		}
	}
	return out, nil
}

// authorize calls plume_authorize.
func (p *Plugin) authorize(ctx context.Context, req *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	m, inst, err := p.begin(ctx, fnAuthorize)
	if inst == nil {
		return hooks.AuthzResult{}, ignoreGone(err)
	}
	c := &inst.c
	c.point, c.kind, c.client, c.authz = byte(hooks.PointAuthorize), byte(req.Action), req.Client, req
	c.shared = p.shared
	res, healthy, err := inst.invoke(fnAuthorize)
	var out hooks.AuthzResult
	if err == nil {
		out, err = authzResult(c, res)
	}
	p.end(m, inst, healthy, hooks.PointAuthorize, req.Client, err)
	return out, err
}

func authzResult(c *call, res uint64) (hooks.AuthzResult, error) {
	if int64(res) < 0 {
		return hooks.AuthzResult{}, failed(c, res)
	}
	out := hooks.AuthzResult{Reason: packets.ReasonCode(res >> 8)}
	switch byte(res) {
	case outcomePass:
	case outcomeAllow:
		out.Verdict = hooks.Allow
	case outcomeDeny:
		out.Verdict, out.ReasonString = hooks.Deny, c.reasonString
	default:
		return hooks.AuthzResult{}, badResult("authorize", res)
	}
	out.Cache = byte(res>>16)&resultFlagCache != 0
	if byte(res>>16)&resultFlagMaxQoS != 0 {
		q := byte(res >> 24)
		if q > 2 {
			return hooks.AuthzResult{}, badResult("authorize", res)
		}
		out.LowerQoS, out.QoS = true, q
	}
	return out, nil
}

// onPublish calls plume_on_publish for messages matching the declared filters.
func (p *Plugin) onPublish(ctx context.Context, client *hooks.Client, msg *packets.Publish) (hooks.PublishResult, error) {
	if !matchAny(p.cur.Load().filters, msg.Topic) {
		return hooks.PublishResult{}, nil
	}
	m, inst, err := p.begin(ctx, fnOnPublish)
	if inst == nil {
		return hooks.PublishResult{}, ignoreGone(err)
	}
	c := &inst.c
	c.point, c.client, c.msg = byte(hooks.PointOnPublish), client, msg
	c.shared = p.shared
	res, healthy, err := inst.invoke(fnOnPublish)
	var out hooks.PublishResult
	if err == nil {
		out, err = publishResult(c, res)
	}
	p.end(m, inst, healthy, hooks.PointOnPublish, client, err)
	return out, err
}

func publishResult(c *call, res uint64) (hooks.PublishResult, error) {
	if int64(res) < 0 {
		return hooks.PublishResult{}, failed(c, res)
	}
	out := hooks.PublishResult{Reason: packets.ReasonCode(res >> 8), ReasonString: c.reasonString}
	switch byte(res) {
	case outcomeDeliver:
	case outcomeDrop:
		out.Action = hooks.Drop
	case outcomeReject:
		out.Action = hooks.Reject
	default:
		return hooks.PublishResult{}, badResult("on_publish", res)
	}
	return out, nil
}

// transform calls plume_transform for messages matching the declared filters
// and applies the rewrite it returns.
func (p *Plugin) transform(ctx context.Context, client *hooks.Client, msg *packets.Publish) error {
	if !matchAny(p.cur.Load().filters, msg.Topic) {
		return nil
	}
	m, inst, err := p.begin(ctx, fnTransform)
	if inst == nil {
		return ignoreGone(err)
	}
	c := &inst.c
	c.point, c.client, c.msg = byte(hooks.PointTransform), client, msg
	c.shared = p.shared
	res, healthy, err := inst.invoke(fnTransform)
	if err == nil {
		switch {
		case int64(res) < 0:
			err = failed(c, res)
		case res&^(transformPayloadInBuffer|0xFFFFFFFF) != 0 || res != 0 && res&transformPayloadInBuffer == 0:
			err = badResult("transform", res)
		case res != 0:
			err = c.payloadFromBuffer(inst, uint32(res))
		}
		if err == nil {
			c.apply(msg)
		}
	}
	p.end(m, inst, healthy, hooks.PointTransform, client, err)
	return err
}

func (p *Plugin) notify(ctx context.Context, fn int, point, kind byte, client *hooks.Client) {
	m, inst, err := p.begin(ctx, fn)
	if inst == nil {
		if err != nil && !errors.Is(err, errGone) {
			p.cur.Load().log.Warn().Err(err).Str("client_id", client.ID).Str("remote", client.RemoteAddr).Msg("lifecycle notification skipped")
		}
		return
	}
	c := &inst.c
	c.point, c.kind, c.client = point, kind, client
	c.shared = p.shared
	_, healthy, err := inst.invoke(fn)
	p.end(m, inst, healthy, hooks.PointLifecycle, client, err)
}

// ignoreGone makes a plugin removed by a reload pass quietly: the chain that
// still holds it was replaced while the call began.
func ignoreGone(err error) error {
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}
