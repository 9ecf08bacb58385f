package main

import (
	"encoding/json"
	"net/http"

	"github.com/plumemq/plume/host"
)

// pluginStats is one plugin of the chain as GET /plugins on the operations
// endpoint shows it.
type pluginStats struct {
	Name string `json:"name"`
	// Traps counts calls that trapped or overran their deadline.
	Traps uint64 `json:"traps"`
	// Shadow is the plugin's shadow's counters (host.ShadowStats), if it has one.
	Shadow *host.ShadowStats `json:"shadow,omitempty"`
}

// servePlugins answers GET /plugins: the chain in order, with each plugin's
// traps and its shadow's agreements, disagreements by kind, errors and drops
// (docs/decisions/0028-shadow-plugins.md).
func (s *server) servePlugins(w http.ResponseWriter, _ *http.Request) {
	out := []pluginStats{}
	for _, p := range s.plugins.Plugins() {
		ps := pluginStats{Name: p.Name(), Traps: p.Traps()}
		if st, ok := p.Shadow(); ok {
			ps.Shadow = &st
		}
		out = append(out, ps)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		s.log.Debug().Err(err).Msg("GET /plugins: writing the answer")
	}
}
