package host

import (
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/ratelog"
)

// A misbehaving plugin repeats itself once per call: its log lines, what it
// writes to stdout and stderr, its traps, its refused host calls. Those lines
// go through limiters keyed by plugin and cause, so that a plugin logging on
// every message cannot flood the broker's log; what they hold back is counted
// and carried by the next line ("suppressed": N) or reported when the cause
// falls quiet (core/ratelog).
const (
	// A plugin's own lines and guest output: enough for a plugin that logs
	// its decisions, not one line per message of a busy broker.
	pluginLinesEvery = time.Second
	pluginLinesBurst = 20
	// Traps and refusals: the first, then one per interval with the count.
	trapLinesEvery = 10 * time.Second
)

// logLimits are a host's limiters for plugin-caused lines.
type logLimits struct {
	lines *ratelog.Limiter // plugin log lines and guest output, per plugin and level
	traps *ratelog.Limiter // traps and refused host calls, per plugin and cause
}

func newLogLimits(log zerolog.Logger) logLimits {
	report := func(key string, n uint64) {
		plugin, cause, _ := strings.Cut(key, "\x00")
		log.Warn().Str("plugin", plugin).Str("cause", cause).Uint64("suppressed", n).Msg("plugin log lines suppressed")
	}
	return logLimits{
		lines: ratelog.New(pluginLinesEvery, pluginLinesBurst, report),
		traps: ratelog.New(trapLinesEvery, 1, report),
	}
}

// close reports what is still held back and stops the limiters' timers.
func (l logLimits) close() {
	l.lines.Close()
	l.traps.Close()
}

// lineEvent returns an event for one of the plugin's own lines (cause: its
// level, or "guest" for its output), or nil when the line is held back.
func (m *module) lineEvent(level zerolog.Level, cause string) *zerolog.Event {
	return m.h.logs.lines.Log(&m.log, level, m.name+"\x00"+cause)
}

// trapEvent returns a warning event for a trap or refusal of the plugin
// (cause: the point, or the refused call), or nil when it is held back.
func (m *module) trapEvent(cause string) *zerolog.Event {
	return m.h.logs.traps.Log(&m.log, zerolog.WarnLevel, m.name+"\x00"+cause)
}

// guestOutput is the writer for the guest's stdout and stderr.
func (m *module) guestOutput() *lineWriter { return &lineWriter{log: m.log, m: m} }
