package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/transport"
)

// Listeners on reload. They are matched by name (an unnamed listener is
// named by its place, listener-N). One added is bound and served; one
// removed stops accepting, and the connections it handed over stay until
// they leave (the broker, not the listener, holds them); one whose
// transport keys changed is replaced. A listener that does not bind is
// logged and left out (or, replacing one, the old one keeps serving); the
// others are still applied.

// listenerChanges lists the keys that differ between two listener lists:
// "listeners[i]" for one added (its new place) or removed (its old place),
// "listeners[i].key" for a key of one kept.
func listenerChanges(prev, next []config.Listener) []string {
	var keys []string
	for i, l := range prev {
		if !slices.ContainsFunc(next, func(n config.Listener) bool { return n.Name == l.Name }) {
			keys = append(keys, fmt.Sprintf("listeners[%d]", i))
		}
	}
	for i, l := range next {
		j := slices.IndexFunc(prev, func(p config.Listener) bool { return p.Name == l.Name })
		if j < 0 {
			keys = append(keys, fmt.Sprintf("listeners[%d]", i))
			continue
		}
		keys = append(keys, config.Changed(prev[j], l, fmt.Sprintf("listeners[%d]", i))...)
	}
	return keys
}

// transportOf is a listener's config without its admission keys, which the
// broker takes without touching the socket.
func transportOf(l config.Listener) config.Listener {
	l.AllowAnonymous, l.MaxConnections, l.UseIdentityAsUsername = nil, 0, false
	return l
}

// applyListeners gives the broker the new admission rules, then makes the
// running listeners those of the file.
func applyListeners(s *server, r *reloading) error {
	policies := listenerPolicies(*r.next)
	s.broker.SetAdmission(false, policies)
	var errs []error
	for _, l := range s.listening() {
		if !slices.ContainsFunc(r.next.Listeners, func(n config.Listener) bool { return n.Name == l.Name() }) {
			s.stopListener(l, r.log, "listener removed from the config: no new connections; open ones stay until they leave")
		}
	}
	for _, lc := range r.next.Listeners {
		old, had := s.runningConfig(lc.Name)
		switch {
		case !had:
			if err := s.addListener(lc, policies[lc.Name], r.log); err != nil {
				errs = append(errs, err)
			}
		case transportOf(old) != transportOf(lc):
			if err := s.replaceListener(old, lc, policies[lc.Name], r.log); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.restartCertWatch()
	return errors.Join(errs...)
}

// replaceListener swaps the listener serving old for one serving lc. A
// different address is bound before the old one closes, so that a failure
// leaves the old one serving; the same address must be closed first, and
// on a failure the old config is bound again.
func (s *server) replaceListener(old, lc config.Listener, p broker.ListenerPolicy, log zerolog.Logger) error {
	cur := s.listenerNamed(lc.Name)
	if old.Address == lc.Address && !anyPort(lc.Address) {
		s.stopListener(cur, log, "listener changed: replacing it")
		if err := s.addListener(lc, p, log); err != nil {
			if err2 := s.addListener(old, p, log); err2 != nil {
				return errors.Join(err, err2)
			}
			return fmt.Errorf("%w (the listener serves as before)", err)
		}
		return nil
	}
	l, err := bindListener(lc)
	if err != nil {
		log.Error().Err(err).Str("listener", lc.Name).Msg("changed listener did not bind: the old one keeps serving")
		return err
	}
	s.stopListener(cur, log, "listener changed: replaced")
	s.serveListener(l, lc, p)
	return nil
}

// anyPort reports whether addr asks for any free port: binding it again
// never collides with itself.
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// addListener binds lc and serves it.
func (s *server) addListener(lc config.Listener, p broker.ListenerPolicy, log zerolog.Logger) error {
	l, err := bindListener(lc)
	if err != nil {
		log.Error().Err(err).Str("listener", lc.Name).Str("address", lc.Address).Msg("listener did not bind; the rest of the reload is applied")
		return err
	}
	s.serveListener(l, lc, p)
	return nil
}

// bindListener makes lc's listener and binds its address.
func bindListener(lc config.Listener) (transport.Listener, error) {
	l, err := transport.New(lc)
	if err == nil {
		err = l.Listen()
	}
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	return l, nil
}

// serveListener serves a bound listener on its own goroutine and records it.
func (s *server) serveListener(l transport.Listener, lc config.Listener, p broker.ListenerPolicy) {
	s.lmu.Lock()
	s.listeners = append(s.listeners, l)
	s.running[lc.Name] = lc
	s.lmu.Unlock()
	s.log.Info().Str("listener", l.Name()).Str("type", l.Protocol()).Str("address", l.Address()).
		Bool("anonymous", p.AllowAnonymous).Int("max_connections", p.MaxConnections).
		Bool("use_identity_as_username", p.UseIdentityAsUsername).Msg("listening")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := l.Serve(s.broker)
		// A listener closed by a reload ends with the closed socket's error.
		if err != nil && !errors.Is(err, broker.ErrClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error().Err(err).Str("listener", l.Name()).Msg("listener stopped")
		}
	}()
}

// stopListener closes l (no new connections) and forgets it.
func (s *server) stopListener(l transport.Listener, log zerolog.Logger, msg string) {
	if err := l.Close(); err != nil {
		log.Warn().Err(err).Str("listener", l.Name()).Msg("closing a listener")
	}
	s.lmu.Lock()
	s.listeners = slices.DeleteFunc(s.listeners, func(x transport.Listener) bool { return x == l })
	delete(s.running, l.Name())
	s.lmu.Unlock()
	log.Info().Str("listener", l.Name()).Str("address", l.Address()).Msg(msg)
}

// listening is a copy of the listeners serving now.
func (s *server) listening() []transport.Listener {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return slices.Clone(s.listeners)
}

// listenerNamed is the listener serving under name, or nil.
func (s *server) listenerNamed(name string) transport.Listener {
	for _, l := range s.listening() {
		if l.Name() == name {
			return l
		}
	}
	return nil
}

// runningConfig is the config the listener named name serves with.
func (s *server) runningConfig(name string) (config.Listener, bool) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	lc, ok := s.running[name]
	return lc, ok
}

// restartCertWatch watches the certificate folders of the listeners serving
// now, in place of those watched before.
func (s *server) restartCertWatch() {
	if s.stopCerts != nil {
		s.stopCerts()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCerts = cancel
	if err := s.watchCerts(ctx); err != nil {
		s.log.Warn().Err(err).Msg("certificate files not watched; SIGHUP still reloads them")
	}
}
