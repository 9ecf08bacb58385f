package main

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host"
)

// logAdmission says at start-up who gets in: which plugins decide each
// CONNECT first, and on which listeners a client that no plugin allowed or
// denied (or every client, without such a plugin) is admitted anyway. The
// listeners' allow_anonymous alone says nothing when a plugin denies: an
// authenticate plugin's verdict comes first (core/hooks, the chain rule).
func logAdmission(log zerolog.Logger, listeners []config.Listener, policies map[string]broker.ListenerPolicy, plugins *host.Host) {
	var open, closed, openNames, authNames []string
	for _, l := range listeners {
		at := fmt.Sprintf("%s (%s)", l.Name, l.Address)
		if policies[l.Name].AllowAnonymous {
			open, openNames = append(open, at), append(openNames, l.Name)
		} else {
			closed = append(closed, at)
		}
	}
	if plugins != nil {
		for _, p := range plugins.Plugins() {
			if p.Provides(hooks.PointAuthenticate) {
				authNames = append(authNames, p.Name())
			}
		}
	}
	var msg string
	switch {
	case len(authNames) == 0 && len(open) == 0:
		msg = "no plugin authenticates clients and no listener admits anonymous ones: every CONNECT is refused"
	case len(authNames) == 0:
		msg = "no plugin authenticates clients: every client is admitted on " + strings.Join(open, ", ")
	case len(open) == 0:
		msg = "the plugin chain decides each CONNECT first (authenticate: " + strings.Join(authNames, ", ") +
			"); a client no plugin allows is refused on every listener"
	default:
		msg = "the plugin chain decides each CONNECT first (authenticate: " + strings.Join(authNames, ", ") +
			"); a client no plugin allows or denies is admitted anonymously on " + strings.Join(open, ", ")
	}
	if len(open) > 0 && len(closed) > 0 {
		msg += "; refused on " + strings.Join(closed, ", ")
	}
	log.Info().Strs("anonymous_on", openNames).Strs("authenticate", authNames).Msg(msg)
}
