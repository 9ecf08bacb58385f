package broker

import (
	"errors"
	"os"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// Observer is told of the connection-level events an audit log records
// (Options.Observer; nil observes nothing). It sees no message that nothing
// denied: it is called on connection, refusal, denial, takeover and
// disconnection only, never per delivered message.
//
// The broker calls it synchronously on the connection's own goroutine, with
// no broker lock held, so a method must return quickly and never block
// (hand the event to a goroutine of its own: ops/audit does). The
// *hooks.Client is the broker's, valid only during the call: copy what you
// keep, and never record its Password.
type Observer interface {
	// Connected: CONNACK 0x00 was queued for c.
	Connected(c *hooks.Client, ev ConnectEvent)
	// AuthFailed: c was refused for who it is: denied by an authenticate
	// hook, without credentials on a listener that admits no anonymous
	// client, without the client certificate its listener's identity rule
	// needs, as an identity that does not own the session, or refused at
	// re-authentication.
	AuthFailed(c *hooks.Client, reason packets.ReasonCode, why string)
	// Denied: an authorization refused c's action on topic: "publish",
	// "subscribe" (topic is then the filter) or "will".
	Denied(c *hooks.Client, action, topic string, reason packets.ReasonCode, why string)
	// TakenOver: old's connection is being closed with 0x8E because by
	// connected with its client id [MQTT-3.1.4-3].
	TakenOver(old, by *hooks.Client)
	// Disconnected: c's connection ended after a successful CONNECT.
	Disconnected(c *hooks.Client, ev DisconnectEvent)
}

// ConnectEvent is what Observer.Connected learns beyond the client.
type ConnectEvent struct {
	CleanStart     bool
	SessionPresent bool
	KeepAlive      uint16 // seconds, as the client asked
}

// Initiator says who ended a connection.
type Initiator uint8

// Who ended a connection.
const (
	ByClient  Initiator = iota // the client sent DISCONNECT
	ByServer                   // the broker closed it: keep-alive, protocol error, takeover, a kick, shutdown
	ByNetwork                  // the connection broke (read or write failed)
)

// String is "client", "server" or "network".
func (i Initiator) String() string {
	switch i {
	case ByClient:
		return "client"
	case ByServer:
		return "server"
	}
	return "network"
}

// DisconnectEvent is what Observer.Disconnected learns beyond the client.
type DisconnectEvent struct {
	Reason       packets.ReasonCode // the client's DISCONNECT reason, or the one the broker sent (or would have, to 3.1.1)
	Text         string             // why, in words: the protocol error, the network error; "" for a plain DISCONNECT
	By           Initiator
	ConnectedFor time.Duration
}

// The call sites below are one line each in the code they observe; the
// nil checks and the reading of the connection's state live here.

func (c *client) observeConnected(cleanStart, present bool, keepAlive uint16) {
	if o := c.b.opts.Observer; o != nil {
		o.Connected(&c.info, ConnectEvent{CleanStart: cleanStart, SessionPresent: present, KeepAlive: keepAlive})
	}
}

func (c *client) observeAuthFailed(reason packets.ReasonCode, why string) {
	if o := c.b.opts.Observer; o != nil {
		o.AuthFailed(&c.info, reason, why)
	}
}

// observeDenied reports an authorization refusal; a nil cache means the
// message is a will (publishWill has no connection to cache for).
func (b *Broker) observeDenied(client *hooks.Client, cache **authzCache, topic string, reason packets.ReasonCode, why string) {
	if o := b.opts.Observer; o != nil {
		action := "publish"
		if cache == nil {
			action = "will"
		}
		o.Denied(client, action, topic, orDefault(reason, packets.NotAuthorized), why)
	}
}

func (c *client) observeSubscribeDenied(filter string, reason packets.ReasonCode) {
	if o := c.b.opts.Observer; o != nil {
		o.Denied(&c.info, hooks.ActionSubscribe.String(), filter, orDefault(reason, packets.NotAuthorized), "")
	}
}

func (c *client) observeTakeover(old *client) {
	if o := c.b.opts.Observer; o != nil {
		o.TakenOver(&old.info, &c.info)
	}
}

// observeDisconnect reports the end of c's connection; reason is what finish
// decided, err what serve returned. It reads the cause the way finish does.
func (c *client) observeDisconnect(reason packets.ReasonCode, err error) {
	o := c.b.opts.Observer
	if o == nil {
		return
	}
	ev := DisconnectEvent{Reason: reason, By: ByServer, ConnectedFor: c.connectedFor()}
	var perr *packets.Error
	switch stop := c.stop.Load(); {
	case stop != nil && stop.err != nil:
		ev.By, ev.Text = ByNetwork, stop.err.Error() // a failed write or commit
	case stop != nil:
		// takeover, shutdown, slow consumer, an administrator: the reason says it
	case errors.Is(err, errClientDisconnect):
		ev.By = ByClient
	case c.keepExpired.Load() || errors.Is(err, os.ErrDeadlineExceeded):
		ev.Text = "keep alive timeout"
	case errors.Is(err, errPacketStalled):
		ev.Text = "packet read timeout"
	case errors.As(err, &perr):
		ev.Text = perr.Msg
	case err != nil:
		ev.By, ev.Text = ByNetwork, err.Error()
	default:
		ev.By = ByNetwork
	}
	o.Disconnected(&c.info, ev)
}
