// Package ratelog keeps repeated log lines from flooding the log. A Limiter
// counts lines per key (a cause: "drops to client X", "plugin P logging at
// warn"): within each interval the first burst lines of a key are written,
// the rest are held back and counted, and the next line written for that key
// carries how many were held back ("suppressed": N). When a key falls quiet
// with lines still held back, the Limiter reports the count itself at the end
// of the interval, so every occurrence is accounted for: the lines written
// plus the suppressed counts add up to the occurrences.
//
// It lives in core so that both core/broker and the plugin host (which may
// import core, never the reverse) use the same rule; nats-server's
// rateLimitFormatWarnf is the model, with the counts added.
package ratelog

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// maxKeys bounds the keys a Limiter remembers. Keys that are quiet and owe
// nothing are forgotten first; past the bound, new keys share one window
// (Overflow), so memory stays bounded when keys are client ids.
const maxKeys = 4096

// Overflow is the key that stands in for new keys while a Limiter already
// remembers maxKeys keys that are still active.
const Overflow = "(other keys)"

// Limiter rate-limits log lines per key. Safe for concurrent use.
type Limiter struct {
	every  time.Duration
	burst  int
	report func(key string, suppressed uint64)

	mu     sync.Mutex
	keys   map[string]*window
	closed bool
	timers sync.WaitGroup // report callbacks scheduled or running
}

type window struct {
	start      time.Time
	written    int    // lines written since start
	suppressed uint64 // lines held back and not yet reported
	timer      *time.Timer
}

// New returns a Limiter that writes at most burst lines per key in each
// interval every (burst < 1 means 1). report writes the line for a count
// held back when no further line of its key came to carry it; it is called
// without locks held, from a timer's goroutine or from Close.
func New(every time.Duration, burst int, report func(key string, suppressed uint64)) *Limiter {
	return &Limiter{every: every, burst: max(burst, 1), report: report, keys: map[string]*window{}}
}

// Allow reports whether a line for key may be written now and, if so, how
// many lines of key were held back since the last one written, for the line
// to carry.
func (l *Limiter) Allow(key string) (suppressed uint64, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.window(key, now)
	if now.Sub(w.start) >= l.every {
		w.start, w.written = now, 0
	}
	if w.written < l.burst {
		w.written++
		n := w.suppressed
		w.suppressed = 0
		if w.timer != nil && w.timer.Stop() {
			l.timers.Done()
		}
		w.timer = nil
		return n, true
	}
	w.suppressed++
	if w.timer == nil && !l.closed {
		l.schedule(key, w, w.start.Add(l.every).Sub(now))
	}
	return 0, false
}

// Log returns an event at level on log for a line of key, with a
// "suppressed" field when lines were held back since the last one, or nil
// when this line is to be held back. zerolog's methods do nothing on a nil
// event, so a caller may chain fields and Msg either way; one that computes
// costly fields checks for nil first.
func (l *Limiter) Log(log *zerolog.Logger, level zerolog.Level, key string) *zerolog.Event {
	n, ok := l.Allow(key)
	if !ok {
		return nil
	}
	ev := log.WithLevel(level)
	if n > 0 {
		ev = ev.Uint64("suppressed", n)
	}
	return ev
}

// window returns key's window, making one if needed; l.mu is held.
func (l *Limiter) window(key string, now time.Time) *window {
	if w, ok := l.keys[key]; ok {
		return w
	}
	if len(l.keys) >= maxKeys {
		for k, w := range l.keys {
			if w.suppressed == 0 && now.Sub(w.start) >= l.every {
				delete(l.keys, k) // quiet, and owes nothing
			}
		}
		if len(l.keys) >= maxKeys {
			key = Overflow
			if w, ok := l.keys[key]; ok {
				return w
			}
		}
	}
	w := &window{start: now}
	l.keys[key] = w
	return w
}

// schedule arranges for w's held-back count to be reported after d if no
// line of key carries it first; l.mu is held.
func (l *Limiter) schedule(key string, w *window, d time.Duration) {
	l.timers.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer l.timers.Done()
		l.mu.Lock()
		if w.timer != t { // a line carried the count, and Stop came too late
			l.mu.Unlock()
			return
		}
		n := w.suppressed
		w.timer, w.suppressed = nil, 0
		// The report is a line of its own: it opens the next interval.
		w.start, w.written = time.Now(), 1
		l.mu.Unlock()
		l.report(key, n)
	})
	w.timer = t
}

// Close reports every count still held back and stops the timers, waiting
// for a report already under way. Lines allowed after Close are still
// limited, but what they hold back is no longer reported.
func (l *Limiter) Close() {
	type owed struct {
		key string
		n   uint64
	}
	var due []owed
	l.mu.Lock()
	l.closed = true
	for k, w := range l.keys {
		if w.timer != nil && w.timer.Stop() {
			l.timers.Done()
		}
		w.timer = nil
		if w.suppressed > 0 {
			due = append(due, owed{k, w.suppressed})
			w.suppressed = 0
		}
	}
	l.mu.Unlock()
	for _, o := range due {
		l.report(o.key, o.n)
	}
	l.timers.Wait()
}
