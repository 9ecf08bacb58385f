package host

import (
	"encoding/hex"
	"time"
)

// Info is what an operator asks about the module a plugin runs now (the
// admin API's GET /api/v1/plugins).
type Info struct {
	// Source is where the module came from: its path, or "builtin:NAME".
	Source string
	// SHA256 is the hash of the module's bytes, lower-case hex: which build
	// serves, whatever the file on disk says now.
	SHA256 string
	// LoadedAt is when this module was loaded: at start-up or by the last
	// reload that replaced it.
	LoadedAt time.Time
}

// Info describes the module serving now. It reads one atomic pointer.
func (p *Plugin) Info() Info {
	m := p.cur.Load()
	return Info{Source: m.cfg.Path, SHA256: hex.EncodeToString(m.sum[:]), LoadedAt: m.loaded}
}
