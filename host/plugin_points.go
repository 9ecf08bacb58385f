package host

import (
	"context"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// The hooks.Hooks methods of Plugin: each calls the plugin (plugin.go) and,
// when a shadow is attached, hands it a copy of the event and the answer
// (shadow.go). Without a shadow that costs one atomic load per call.

// Authenticate calls plume_authenticate.
func (p *Plugin) Authenticate(ctx context.Context, req *hooks.AuthRequest) (hooks.AuthResult, error) {
	res, err := p.authenticate(ctx, req)
	if s := p.shadow.Load(); s != nil && err == nil {
		s.authenticated(req, res)
	}
	return res, err
}

// Authorize calls plume_authorize.
func (p *Plugin) Authorize(ctx context.Context, req *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	res, err := p.authorize(ctx, req)
	if s := p.shadow.Load(); s != nil && err == nil {
		s.authorized(req, res)
	}
	return res, err
}

// OnPublish calls plume_on_publish for messages matching the declared filters.
func (p *Plugin) OnPublish(ctx context.Context, client *hooks.Client, msg *packets.Publish) (hooks.PublishResult, error) {
	res, err := p.onPublish(ctx, client, msg)
	if s := p.shadow.Load(); s != nil && err == nil && p.compares(s, hooks.PointOnPublish, msg.Topic) {
		s.published(client, msg, res)
	}
	return res, err
}

// Transform calls plume_transform for messages matching the declared filters
// and applies the rewrite it returns.
func (p *Plugin) Transform(ctx context.Context, client *hooks.Client, msg *packets.Publish) error {
	s := p.shadow.Load()
	if s == nil || !p.compares(s, hooks.PointTransform, msg.Topic) {
		return p.transform(ctx, client, msg)
	}
	in := clonePublish(msg) // the serving transform replaces what msg holds
	err := p.transform(ctx, client, msg)
	if err == nil {
		s.transformed(client, in, msg)
	}
	return err
}

// compares reports whether a message event at pt on topic goes to the
// shadow: when either plugin would act on it (their filters may differ).
func (p *Plugin) compares(s *shadow, pt hooks.Point, topic string) bool {
	return s.wants(pt, topic) || s.cand.Provides(pt) && matchAny(p.cur.Load().filters, topic)
}

// OnConnect tells the plugin, if it exports plume_on_connect.
func (p *Plugin) OnConnect(ctx context.Context, client *hooks.Client) {
	p.notify(ctx, fnOnConnect, pointConnect, 0, client)
	if s := p.shadow.Load(); s != nil {
		s.connected(client)
	}
}

// OnDisconnect tells the plugin, if it exports plume_on_disconnect, and then
// drops the client's state.
func (p *Plugin) OnDisconnect(ctx context.Context, client *hooks.Client, reason packets.ReasonCode) {
	p.notify(ctx, fnOnDisconnect, pointDisconnect, byte(reason), client)
	p.shared.forget(client)
	if s := p.shadow.Load(); s != nil {
		s.disconnected(client, reason)
	}
}

// Shadow returns the counters of the plugin's shadow, and false when it has
// none.
func (p *Plugin) Shadow() (ShadowStats, bool) {
	s := p.shadow.Load()
	if s == nil {
		return ShadowStats{}, false
	}
	return s.snapshotStats(), true
}
