package hooks

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/ratelog"
)

// Link is one named element of a Chain.
type Link struct {
	Name    string
	Hooks   Hooks
	OnError Failure
}

// Chain runs links in order with the chain rules of the design: for
// authenticate and authorize the first Allow or Deny wins; on-publish stops at
// the first Drop or Reject; transforms feed one into the next. The link list is
// copy-on-write, so Swap never blocks a call in flight.
type Chain struct {
	links      atomic.Pointer[[]Link]
	points     atomic.Uint32 // union of the points the links provide
	log        zerolog.Logger
	failures   *ratelog.Limiter // warnings per plugin and point: a plugin failing every call writes a line a second
	errors     atomic.Uint64
	generation atomic.Uint64
}

// NewChain returns a chain of links that logs link failures to log.
func NewChain(log zerolog.Logger, links ...Link) *Chain {
	c := &Chain{log: log}
	c.failures = ratelog.New(time.Second, 1, func(key string, suppressed uint64) {
		c.log.Warn().Str("cause", key).Uint64("suppressed", suppressed).Msg("plugin call failed")
	})
	c.Swap(links)
	return c
}

// Swap replaces the links atomically. Calls already running finish on the old list.
func (c *Chain) Swap(links []Link) {
	cp := append([]Link(nil), links...)
	var pts uint32
	for _, l := range cp {
		for p := PointAuthenticate; p <= PointLifecycle; p <<= 1 {
			if l.Hooks.Provides(p) {
				pts |= uint32(p)
			}
		}
	}
	c.links.Store(&cp)
	c.points.Store(pts)
	c.generation.Add(1)
}

// Generation changes whenever Swap replaces the links: answers cached under
// one generation are void in the next.
func (c *Chain) Generation() uint64 { return c.generation.Load() }

// Links returns the current links.
func (c *Chain) Links() []Link { return *c.links.Load() }

// Errors counts link calls that failed since the chain was made.
func (c *Chain) Errors() uint64 { return c.errors.Load() }

// Provides reports whether any link provides p.
func (c *Chain) Provides(p Point) bool { return c.points.Load()&uint32(p) != 0 }

func (c *Chain) failed(l *Link, p Point, client *Client, err error) {
	c.errors.Add(1)
	ev := c.failures.Log(&c.log, zerolog.WarnLevel, l.Name+" "+p.String())
	if ev == nil {
		return // counted, and reported with the next line of this plugin and point
	}
	ev = ev.Err(err).Str("plugin", l.Name).Str("point", p.String())
	if client != nil {
		ev = ev.Str("client_id", client.ID).Str("remote", client.RemoteAddr)
	}
	ev.Msg("plugin call failed")
}

// Authenticate asks each providing link until one allows, denies or continues.
// The next step of an exchange that a link continued goes to that link alone
// [MQTT-4.12.0-5]: the method is the one it chose.
func (c *Chain) Authenticate(ctx context.Context, req *AuthRequest) (AuthResult, error) {
	links := *c.links.Load()
	start, end := 0, len(links)
	if req.Step == AuthContinue && req.Client != nil && req.Client.authLink > 0 {
		start = int(req.Client.authLink) - 1
		end = min(start+1, len(links))
	}
	if req.Client != nil {
		req.Client.authLink = 0
	}
	for i := start; i < end; i++ {
		l := &links[i]
		if !l.Hooks.Provides(PointAuthenticate) {
			continue
		}
		res, err := l.Hooks.Authenticate(ctx, req)
		if err != nil {
			c.failed(l, PointAuthenticate, req.Client, err)
			res = l.OnError.Authenticated(res, err)
		}
		if res.Continue && req.Client != nil {
			req.Client.authLink = int32(i + 1)
		}
		if res.Verdict != Pass || res.Continue {
			return res, nil
		}
	}
	return AuthResult{}, nil
}

// Authorize asks each providing link until one allows or denies. QoS caps
// from passing links accumulate (the lowest wins).
func (c *Chain) Authorize(ctx context.Context, req *AuthzRequest) (AuthzResult, error) {
	out := AuthzResult{Cache: true}
	for i, links := 0, *c.links.Load(); i < len(links); i++ {
		l := &links[i]
		if !l.Hooks.Provides(PointAuthorize) {
			continue
		}
		res, err := l.Hooks.Authorize(ctx, req)
		if err != nil {
			c.failed(l, PointAuthorize, req.Client, err)
			res = l.OnError.Authorized(res, err)
		}
		out.Cache = out.Cache && res.Cache
		if res.LowerQoS && (!out.LowerQoS || res.QoS < out.QoS) {
			out.LowerQoS, out.QoS = true, res.QoS
		}
		if res.Verdict != Pass {
			out.Verdict, out.Reason, out.ReasonString = res.Verdict, res.Reason, res.ReasonString
			return out, nil
		}
	}
	return out, nil
}

// OnPublish calls each providing link; the first Drop or Reject stops the chain.
func (c *Chain) OnPublish(ctx context.Context, client *Client, m *packets.Publish) (PublishResult, error) {
	for i, links := 0, *c.links.Load(); i < len(links); i++ {
		l := &links[i]
		if !l.Hooks.Provides(PointOnPublish) {
			continue
		}
		res, err := l.Hooks.OnPublish(ctx, client, m)
		if err != nil {
			c.failed(l, PointOnPublish, client, err)
			res = l.OnError.Published(res, err)
		}
		if res.Action != Continue {
			return res, nil
		}
	}
	return PublishResult{}, nil
}

// Transform runs each providing link's transform on the output of the one before.
// A failing link leaves the message as it was before that link, unless the link
// fails closed, in which case ErrDropped tells the broker to drop the message.
func (c *Chain) Transform(ctx context.Context, client *Client, m *packets.Publish) error {
	for i, links := 0, *c.links.Load(); i < len(links); i++ {
		l := &links[i]
		if !l.Hooks.Provides(PointTransform) {
			continue
		}
		before := *m
		if err := l.Hooks.Transform(ctx, client, m); err != nil {
			*m = before
			c.failed(l, PointTransform, client, err)
			if l.OnError.Transformed(err) {
				return ErrDropped
			}
		}
	}
	return nil
}

// OnConnect notifies every link that provides PointLifecycle.
func (c *Chain) OnConnect(ctx context.Context, client *Client) {
	for _, l := range *c.links.Load() {
		if l.Hooks.Provides(PointLifecycle) {
			l.Hooks.OnConnect(ctx, client)
		}
	}
}

// OnDisconnect notifies every link that provides PointLifecycle.
func (c *Chain) OnDisconnect(ctx context.Context, client *Client, reason packets.ReasonCode) {
	for _, l := range *c.links.Load() {
		if l.Hooks.Provides(PointLifecycle) {
			l.Hooks.OnDisconnect(ctx, client, reason)
		}
	}
}

var _ Hooks = (*Chain)(nil)
