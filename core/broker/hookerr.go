package broker

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// hookErrorEvery is how often a failing extension point may write a warning;
// failures in between are counted and reported with the next line.
const hookErrorEvery = time.Second

// hookErrorLog rate-limits the warnings of one extension point: a Hooks that
// fails on every message would otherwise write a line per message.
type hookErrorLog struct {
	next       atomic.Int64 // Unix ns before which failures are only counted
	suppressed atomic.Uint64
}

// hookFailed logs that a call to the broker's Hooks returned err. What the
// error means is not decided here but by Options.HookFailure, at the call.
func (b *Broker) hookFailed(p hooks.Point, c *hooks.Client, err error) {
	l := &b.hookErrs[bits.TrailingZeros8(uint8(p))%len(b.hookErrs)]
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(hookErrorEvery)) {
		l.suppressed.Add(1)
		return
	}
	b.log.Warn().Err(err).Str("point", p.String()).Str("client_id", c.ID).Str("remote", c.RemoteAddr).
		Uint64("suppressed", l.suppressed.Swap(0)).Msg("hook call failed")
}
