package host

import (
	"encoding/hex"
	"errors"
)

// EventKind is what happened to a plugin (Event).
type EventKind uint8

// The plugin events a Host reports.
const (
	// PluginLoaded: a plugin's module was loaded and serves, at start-up or
	// when a reload added the plugin.
	PluginLoaded EventKind = iota
	// PluginSwapped: a reload replaced a plugin's module with another
	// (OldHash → Hash); calls in flight finish on the old one.
	PluginSwapped
	// PluginFailed: a load or reload failed (the old module, if any, keeps
	// serving), or a call trapped or overran its deadline and its instance
	// was discarded (Cause says which).
	PluginFailed
)

// Event is one thing that happened to a plugin, for an audit log.
type Event struct {
	Kind    EventKind
	Plugin  string
	Path    string // the module's file, "" for a module given as bytes
	Hash    string // SHA-256 of the module serving now (lower-case hex); "" when a first load failed
	OldHash string // PluginSwapped: the module replaced
	// Cause says what failed (PluginFailed): "load", "reload", "trap" or
	// "deadline"; for a trap or deadline, also the extension point in Point.
	Cause string
	Point string
	Err   error
}

// Option configures a Host beyond its Config (New).
type Option func(*Host)

// WithEvents has the Host call fn for each plugin load, swap and failure.
// fn is called synchronously — from a plugin call's goroutine for a trap —
// so it must return quickly and not block; it must not call the Host.
// Traps repeat at message rate when a plugin breaks: rate-limit downstream.
func WithEvents(fn func(Event)) Option {
	return func(h *Host) { h.events = fn }
}

// emit reports ev if anyone listens.
func (h *Host) emit(ev Event) {
	if h.events != nil {
		h.events(ev)
	}
}

// emitFailure reports a failed load (cur is the module still serving, nil if none).
func (h *Host) emitFailure(pc PluginConfig, cur *module, cause string, err error) {
	ev := Event{Kind: PluginFailed, Plugin: pc.Name, Path: pc.Path, Cause: cause, Err: err}
	if cur != nil {
		ev.Hash = cur.hash()
	}
	h.emit(ev)
}

// emitTrap reports a call whose instance was discarded.
func (m *module) emitTrap(point string, err error) {
	cause := "trap"
	if errors.Is(err, ErrDeadline) {
		cause = "deadline"
	}
	m.h.emit(Event{Kind: PluginFailed, Plugin: m.name, Path: m.cfg.Path, Hash: m.hash(), Cause: cause, Point: point, Err: err})
}

// hash is the module's SHA-256 in lower-case hex.
func (m *module) hash() string { return hex.EncodeToString(m.sum[:]) }
