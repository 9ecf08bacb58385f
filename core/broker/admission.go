package broker

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/packets"
)

// Admission: which connections a listener takes, before any plugin runs
// (docs/decisions/0022-admission.md). Three rules, each counted and logged
// when it refuses:
//
//   - the transport's own verdict: a TLS handshake that failed (an unknown or
//     expired client certificate), a PROXY header missing or malformed;
//   - connection limits, per listener and broker-wide: a client over one is
//     answered CONNACK 0x97 Quota exceeded (3.1.1: 3 Server unavailable);
//     past the limit by more than overLimitSlack it is closed at once,
//     unread, so that a flood costs neither a goroutine nor a CONNECT's bytes
//     for long;
//   - on a listener with UseIdentityAsUsername, the verified client
//     certificate is the client's identity: no certificate, no connection.

// ListenerPolicy is what one listener admits (Options.Listeners).
type ListenerPolicy struct {
	// AllowAnonymous admits, on this listener, clients that no authenticate
	// hook decided on (Options.AllowAnonymous for the whole broker).
	AllowAnonymous bool
	// MaxConnections bounds the connections open at once on this listener,
	// counted from the accept; 0 means no limit of its own.
	MaxConnections int
	// UseIdentityAsUsername makes the common name of the client certificate
	// that the transport verified the client's username and its proof of
	// identity: the CONNECT's username is replaced, and the client is
	// authenticated unless an authenticate hook denies it. A client without
	// a verified certificate is refused 0x87 Not authorized.
	UseIdentityAsUsername bool
}

// overLimitSlack is how many connections past a limit are still read, to be
// told why with a CONNACK; further ones are closed without a word.
const overLimitSlack = 64

// refuseLogInterval is how often each kind of transport refusal is logged
// per listener; the ones in between are counted on the next line.
const refuseLogInterval = 10 * time.Second

// admission is what the CONNECT exchange needs to know about a connection
// besides its bytes; it lives only as long as the exchange.
type admission struct {
	policy ListenerPolicy
	ti     TransportInfo
	// overLimit names the limit the connection is over, "" if none; limit
	// is its value.
	overLimit string
	limit     int
}

// policyFor is the policy of the listener named name.
func (b *Broker) policyFor(name string) ListenerPolicy {
	v := b.live.Load()
	if p, ok := v.listeners[name]; ok {
		return p
	}
	return ListenerPolicy{AllowAnonymous: v.anonymous}
}

// track registers c, counting it against its listener's limit and the
// broker's. It reports false when c must be closed at once: the broker is
// shutting down, or c is past a limit by more than overLimitSlack. With b.mu.
func (b *Broker) track(c *client, a *admission) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	name := c.info.Listener
	open, total := b.perListener[name], b.conns.n
	past := 0 // connections already over the limit that c is over
	switch {
	case a.policy.MaxConnections > 0 && open >= a.policy.MaxConnections:
		a.overLimit, a.limit = "listener max_connections", a.policy.MaxConnections
		past = open - a.limit
	case c.lim.MaxConnections > 0 && total >= c.lim.MaxConnections:
		a.overLimit, a.limit = "max_connections", c.lim.MaxConnections
		past = total - a.limit
	}
	if a.overLimit != "" && past >= overLimitSlack {
		b.stats.refusedLimit.Add(1)
		b.refuseLog.Log(&b.log, zerolog.WarnLevel, name+" "+a.overLimit).
			Str("listener", name).Str("remote", c.info.RemoteAddr).Str("limit", a.overLimit).Int("max", a.limit).
			Msg("connection closed unread: over the connection limit")
		return false
	}
	b.conns.add(c)
	b.perListener[name]++
	return true
}

// untrack forgets c; its listener's count goes down.
func (b *Broker) untrack(c *client) {
	b.mu.Lock()
	if b.conns.remove(c) {
		if b.perListener[c.info.Listener]--; b.perListener[c.info.Listener] <= 0 {
			delete(b.perListener, c.info.Listener)
		}
	}
	b.mu.Unlock()
}

// transportRefused logs and counts a connection its transport refused.
func (b *Broker) transportRefused(c *client, err error) {
	b.stats.transportRefused.Add(1)
	b.refuseLog.Log(&b.log, zerolog.InfoLevel, c.info.Listener+" transport").
		Str("listener", c.info.Listener).Str("remote", c.info.RemoteAddr).Err(err).
		Msg("connection refused by its transport")
}

// admitConnection applies the limits and the certificate identity rule once
// CONNECT is read and its version known (Broker.admit is a message's). It
// returns Success or the reason to refuse.
func (c *client) admitConnection(a *admission) (packets.ReasonCode, string) {
	if a.overLimit != "" {
		c.b.stats.refusedLimit.Add(1)
		return packets.QuotaExceeded, fmt.Sprintf("%s (%d) reached", a.overLimit, a.limit)
	}
	if a.policy.UseIdentityAsUsername {
		if a.ti.CertCommonName == "" {
			c.observeAuthFailed(packets.NotAuthorized, "this listener needs a client certificate with a common name")
			return packets.NotAuthorized, "this listener needs a client certificate with a common name"
		}
		c.info.Username = a.ti.CertCommonName
	}
	return packets.Success, ""
}

// reportRefusals writes the count of refusal lines that refuseLog held back
// when no later refusal came to carry it.
func (b *Broker) reportRefusals(key string, suppressed uint64) {
	b.log.Warn().Str("cause", key).Uint64("suppressed", suppressed).Msg("connection refusals not logged")
}
