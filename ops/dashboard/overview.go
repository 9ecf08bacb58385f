package dashboard

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"
)

// Overview is GET /api/v1/overview's answer, and, without History, each
// event of GET /api/v1/events.
type Overview struct {
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	// IntervalMS is the sampling period in milliseconds.
	IntervalMS int64  `json:"interval_ms"`
	Totals     Totals `json:"totals"`
	// Rates is the latest sample.
	Rates Sample `json:"rates"`
	// Plugins is the latest sample's plugins, in chain order.
	Plugins []PluginRate `json:"plugins"`
	// Refusals are the most recent refusals, newest first.
	Refusals []Refusal `json:"refusals"`
	// History is the kept samples, oldest first, the latest included; left
	// out of events and of GET /api/v1/overview?history=0.
	History []Sample `json:"history,omitempty"`
}

func (d *Dashboard) overview(now time.Time, latest Sample, tot Totals, hist []Sample) Overview {
	plugins := latest.Plugins
	if plugins == nil {
		plugins = []PluginRate{}
	}
	return Overview{
		Version:       d.cfg.Version,
		StartedAt:     d.started.UTC().Truncate(time.Second),
		UptimeSeconds: int64(now.Sub(d.started).Seconds()),
		IntervalMS:    d.cfg.Interval.Milliseconds(),
		Totals:        tot,
		Rates:         latest,
		Plugins:       plugins,
		Refusals:      d.refusals(),
		History:       hist,
	}
}

// serveOverview answers GET /api/v1/overview; with ?history=0 it leaves the
// history out (the page polling once it has it: 600 samples are some
// 480 KB of JSON with eight plugins).
func (d *Dashboard) serveOverview(w http.ResponseWriter, r *http.Request) {
	hist, tot := d.hist.samples()
	var latest Sample
	if len(hist) > 0 {
		latest = hist[len(hist)-1]
	}
	if r.URL.Query().Get("history") == "0" {
		hist = nil
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	// An encoding error here is the client gone; nothing to tell it.
	_ = json.NewEncoder(w).Encode(d.overview(time.Now(), latest, tot, hist))
}

//go:embed assets
var assets embed.FS

// assetHandler serves the page's script and style sheet under /dashboard/.
func assetHandler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func (d *Dashboard) servePage(w http.ResponseWriter, _ *http.Request) {
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

// contentSecurityPolicy lets the page run only its own script file and load
// only its own style sheet and data: nothing inline, nothing from elsewhere.
// Client ids and usernames reach the page as data and are shown as text
// (textContent); this policy is the second line, should one ever reach an
// innerHTML.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
