package dashboard

import (
	"math"
	"sync"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// Sample is one sampling period: the gauges at its end and the counters'
// rates over it, per second. The first sample has no rates (nothing came
// before it to subtract).
type Sample struct {
	// Time is when the sample was taken, in Unix milliseconds.
	Time        int64   `json:"t"`
	Connections int     `json:"connections"`
	Sessions    int     `json:"sessions"`
	MessagesIn  float64 `json:"messages_in"`  // per second
	MessagesOut float64 `json:"messages_out"` // per second
	BytesIn     float64 `json:"bytes_in"`     // per second
	BytesOut    float64 `json:"bytes_out"`    // per second
	// Drops is per second, by cause.
	Drops Drops `json:"drops"`
	// Refusals is per second, by kind.
	Refusals Refusals `json:"refusals"`
	// PluginErrors is failed plugin calls per second.
	PluginErrors float64      `json:"plugin_errors"`
	Plugins      []PluginRate `json:"plugins"`
}

// Drops are the broker's dropped deliveries per second by cause
// (broker.Stats.Dropped and the counters that break it down).
type Drops struct {
	QueueFull    float64 `json:"queue_full"`
	QueueBytes   float64 `json:"queue_bytes"`
	MemoryBudget float64 `json:"memory_budget"`
	QoS0         float64 `json:"qos0"`
	Shared       float64 `json:"shared"`
	// Other is the rest of Dropped: dropped by a hook or a transform, or
	// larger than the subscriber's Maximum Packet Size.
	Other float64 `json:"other"`
}

// Refusals are refusals per second by kind. Connect counts error CONNACKs
// (authentication failures among them, which Auth counts too); Transport
// counts connections refused before MQTT began; Authz counts denied
// publishes and subscriptions.
type Refusals struct {
	Connect   float64 `json:"connect"`
	Transport float64 `json:"transport"`
	Auth      float64 `json:"auth"`
	Authz     float64 `json:"authz"`
}

// PluginRate is one plugin in a sample: its calls and errors per second and
// the latency figures its provider gave, in microseconds.
type PluginRate struct {
	Name   string  `json:"name"`
	Calls  float64 `json:"calls"`
	Errors float64 `json:"errors"`
	MeanUS float64 `json:"mean_us"`
	P99US  float64 `json:"p99_us"`
}

// Totals are the broker's gauges and counters since it started, from the
// latest sample.
type Totals struct {
	Connections      int    `json:"connections"`
	Sessions         int    `json:"sessions"`
	Subscriptions    int    `json:"subscriptions"`
	Retained         int    `json:"retained"`
	QueuedBytes      int64  `json:"queued_bytes"`
	Connects         uint64 `json:"connects"`
	Refused          uint64 `json:"refused"`
	TransportRefused uint64 `json:"transport_refused"`
	AuthDenied       uint64 `json:"auth_denied"`
	AuthzDenied      uint64 `json:"authz_denied"`
	MessagesIn       uint64 `json:"messages_in"`
	MessagesOut      uint64 `json:"messages_out"`
	BytesIn          uint64 `json:"bytes_in"`
	BytesOut         uint64 `json:"bytes_out"`
	Dropped          uint64 `json:"dropped"`
	PluginErrors     uint64 `json:"plugin_errors"`
}

func totalsOf(s broker.Stats) Totals {
	return Totals{
		Connections: s.ClientsConnected, Sessions: s.Sessions, Subscriptions: s.Subscriptions,
		Retained: s.Retained, QueuedBytes: s.QueuedBytes, Connects: s.Connects, Refused: s.Refused,
		TransportRefused: s.TransportRefused, AuthDenied: s.AuthDenied, AuthzDenied: s.AuthzDenied,
		MessagesIn: s.MessagesIn, MessagesOut: s.MessagesOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		Dropped: s.Dropped, PluginErrors: s.PluginErrors,
	}
}

// history is a ring of the last samples and what the next one subtracts.
type history struct {
	mu      sync.Mutex
	ring    []Sample // len == cap once full
	next    int      // where the next sample goes once full
	prevAt  time.Time
	prev    broker.Stats
	prevPlg map[string]PluginSample
}

func newHistory(n int) *history {
	return &history{ring: make([]Sample, 0, n)}
}

// add makes the sample for now from st and plugins, keeps it, and returns
// it with the totals it came from.
func (h *history) add(now time.Time, st broker.Stats, plugins []PluginSample) (Sample, Totals) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Sample{Time: now.UnixMilli(), Connections: st.ClientsConnected, Sessions: st.Sessions}
	first := h.prevAt.IsZero()
	secs := now.Sub(h.prevAt).Seconds()
	rate := func(cur, prev uint64) float64 {
		if first || secs <= 0 {
			return 0
		}
		d := cur - prev
		if cur < prev { // a counter that restarted (a plugin reloaded)
			d = cur
		}
		return math.Round(float64(d)/secs*100) / 100
	}
	p := h.prev
	s.MessagesIn, s.MessagesOut = rate(st.MessagesIn, p.MessagesIn), rate(st.MessagesOut, p.MessagesOut)
	s.BytesIn, s.BytesOut = rate(st.BytesIn, p.BytesIn), rate(st.BytesOut, p.BytesOut)
	s.Drops = Drops{
		QueueFull:    rate(st.DroppedQueueFull, p.DroppedQueueFull),
		QueueBytes:   rate(st.DroppedQueueBytes, p.DroppedQueueBytes),
		MemoryBudget: rate(st.DroppedMemoryBudget, p.DroppedMemoryBudget),
		QoS0:         rate(st.DroppedQoS0, p.DroppedQoS0),
		Shared:       rate(st.SharedDropped, p.SharedDropped),
		Other:        rate(otherDrops(st), otherDrops(p)),
	}
	s.Refusals = Refusals{
		Connect:   rate(st.Refused, p.Refused),
		Transport: rate(st.TransportRefused, p.TransportRefused),
		Auth:      rate(st.AuthDenied, p.AuthDenied),
		Authz:     rate(st.AuthzDenied, p.AuthzDenied),
	}
	s.PluginErrors = rate(st.PluginErrors, p.PluginErrors)
	s.Plugins = make([]PluginRate, 0, len(plugins))
	seen := make(map[string]PluginSample, len(plugins))
	for _, pl := range plugins {
		was := h.prevPlg[pl.Name]
		s.Plugins = append(s.Plugins, PluginRate{
			Name: pl.Name, Calls: rate(pl.Calls, was.Calls), Errors: rate(pl.Errors, was.Errors),
			MeanUS: micros(pl.Mean), P99US: micros(pl.P99),
		})
		seen[pl.Name] = pl
	}
	h.prevAt, h.prev, h.prevPlg = now, st, seen
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, s)
	} else {
		h.ring[h.next] = s
		h.next = (h.next + 1) % len(h.ring)
	}
	return s, totalsOf(st)
}

// otherDrops is the part of Dropped that no cause counter breaks down.
func otherDrops(s broker.Stats) uint64 {
	known := s.DroppedQueueFull + s.DroppedQueueBytes + s.DroppedMemoryBudget + s.DroppedQoS0 + s.SharedDropped
	if s.Dropped < known {
		return 0
	}
	return s.Dropped - known
}

func micros(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)*10) / 10
}

// samples returns the kept samples, oldest first, with the totals of the
// latest.
func (h *history) samples() ([]Sample, Totals) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Sample, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	out = append(out, h.ring[:h.next]...)
	return out, totalsOf(h.prev)
}
