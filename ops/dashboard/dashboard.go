// Package dashboard is the live dashboard of the operations server: one page
// at / (HTML, CSS and JavaScript written by hand and embedded in the binary;
// no CDN, no build step) and the two JSON endpoints it reads,
//
//	GET /api/v1/overview   the latest totals and rates, the last ten minutes of per-second samples, plugins, recent refusals
//	GET /api/v1/events     the same sample, once a second, as server-sent events
//
// A sampler goroutine reads broker.Stats once a second and keeps the last ten
// minutes, so a page opened now shows what happened before it. The client
// list on the page comes from the admin API (GET /api/v1/clients, package
// ops/admin); this package does not serve it.
//
// What the dashboard needs from the rest of the binary comes through func
// fields of Config, which cmd/plume wires: ops/ does not import host/ or
// cmd/ (docs/ARCHITECTURE.md), and each field may be nil.
package dashboard

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// Config is what the dashboard reads. Every func field may be nil: the
// dashboard then shows nothing for it. Each is called from the sampler
// goroutine once a second and must not block.
type Config struct {
	// Version is shown in the page's header, e.g. "plume 1.2.0".
	Version string
	// Started is when the broker started, for the uptime; zero means when
	// New was called.
	Started time.Time
	// Stats returns the broker's counters (Broker.Stats).
	Stats func() broker.Stats
	// Plugins returns the plugin chain's counters, in chain order.
	Plugins func() []PluginSample
	// Refusals returns the n most recent refusals, newest first.
	Refusals func(n int) []Refusal
	// MaxStreams bounds the event streams open at once; past it a new one is
	// answered 503 and the page polls the overview instead. 0 means 16.
	MaxStreams int
	// Interval is the sampling period; 0 means one second. Tests shorten it.
	Interval time.Duration
	// History is how many samples are kept; 0 means 600 (ten minutes at
	// one a second).
	History int
}

// PluginSample is one plugin's counters as Config.Plugins reports them.
// Calls and Errors count since the plugin was loaded; the dashboard turns
// them into rates. Mean and P99 are the provider's latency figures for the
// plugin's calls (over whatever window it keeps; zero when it keeps none).
type PluginSample struct {
	Name   string
	Calls  uint64
	Errors uint64
	Mean   time.Duration
	P99    time.Duration
}

// Refusal is one refused connection or denied action, as the audit log
// records it, for the page's table of recent refusals.
type Refusal struct {
	Time     time.Time `json:"time"`
	Class    string    `json:"class"` // e.g. auth_failure, authz_denied
	ClientID string    `json:"client_id"`
	Username string    `json:"username,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Listener string    `json:"listener,omitempty"`
	Reason   string    `json:"reason,omitempty"` // reason code and text
	Topic    string    `json:"topic,omitempty"`
}

// recentRefusals is how many refusals the page's table shows.
const recentRefusals = 20

// maxPlugins bounds the plugins kept per sample, so that the history's
// memory does not grow with the chain: 600 samples of at most 32.
const maxPlugins = 32

// Dashboard serves the page and its data. Make it with New, register its
// handlers with Register, run its sampler with Start and end it with Stop.
type Dashboard struct {
	cfg     Config
	started time.Time
	hist    *history
	streams *streams

	mu     sync.Mutex
	cancel context.CancelFunc // nil before Start and after Stop
	done   chan struct{}
}

// New returns a dashboard for cfg; its sampler is not running yet.
func New(cfg Config) *Dashboard {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 16
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 600
	}
	started := cfg.Started
	if started.IsZero() {
		started = time.Now()
	}
	return &Dashboard{
		cfg:     cfg,
		started: started,
		hist:    newHistory(cfg.History),
		streams: newStreams(cfg.MaxStreams),
	}
}

// Mux is where Register puts the handlers; *ops.Server and *http.ServeMux
// both are one.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the page, its assets and the two data endpoints to m.
func (d *Dashboard) Register(m Mux) {
	m.Handle("GET /{$}", http.HandlerFunc(d.servePage))
	m.Handle("GET /dashboard/", assetHandler())
	m.Handle("GET /api/v1/overview", http.HandlerFunc(d.serveOverview))
	m.Handle("GET /api/v1/events", http.HandlerFunc(d.serveEvents))
}

// Start runs the sampler until Stop. It takes one sample at once, so that
// the first page has numbers. A second Start does nothing.
func (d *Dashboard) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	d.sample(time.Now())
	go d.run(ctx, d.done)
}

// Stop ends the sampler, waits for it, and closes every event stream, so
// that the operations server's shutdown does not wait for them.
func (d *Dashboard) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel, d.done = nil, nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	d.streams.closeAll()
}

func (d *Dashboard) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			d.sample(now)
		}
	}
}

// sample reads the sources once, appends the sample to the history and
// sends it to every event stream.
func (d *Dashboard) sample(now time.Time) {
	var st broker.Stats
	if d.cfg.Stats != nil {
		st = d.cfg.Stats()
	}
	var plugins []PluginSample
	if d.cfg.Plugins != nil {
		plugins = d.cfg.Plugins()
		if len(plugins) > maxPlugins {
			plugins = plugins[:maxPlugins]
		}
	}
	s, tot := d.hist.add(now, st, plugins)
	ev, err := encodeEvent(d.overview(now, s, tot, nil))
	if err != nil {
		return // a Sample always encodes; nothing to send if not
	}
	d.streams.send(ev)
}

func (d *Dashboard) refusals() []Refusal {
	if d.cfg.Refusals == nil {
		return []Refusal{}
	}
	r := d.cfg.Refusals(recentRefusals)
	if r == nil {
		return []Refusal{}
	}
	return r
}
