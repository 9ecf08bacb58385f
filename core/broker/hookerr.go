package broker

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
)

// hookErrorEvery is how often a failing extension point may write a warning;
// failures in between are counted and reported with the next line, or at the
// end of the interval (core/ratelog).
const hookErrorEvery = time.Second

// hookFailed logs that a call to the broker's Hooks returned err, at most
// once a second per extension point: a Hooks that fails on every message
// would otherwise write a line per message. What the error means is not
// decided here but by Options.HookFailure, at the call.
func (b *Broker) hookFailed(p hooks.Point, c *hooks.Client, err error) {
	ev := b.hookLog.Log(&b.log, zerolog.WarnLevel, p.String())
	if ev == nil {
		return
	}
	ev.Err(err).Str("point", p.String()).Str("client_id", c.ID).Str("remote", c.RemoteAddr).Msg("hook call failed")
}

// reportHookFailures writes the count of hook failures held back when no
// later failure of the point came to carry it.
func (b *Broker) reportHookFailures(point string, suppressed uint64) {
	b.log.Warn().Str("point", point).Uint64("suppressed", suppressed).Msg("hook call failed")
}
