package plume

import "errors"

// Verdict is a three-way answer of authenticate and authorize: Pass leaves the
// decision to the next plugin in the chain; the first Allow or Deny wins.
type Verdict uint8

// The verdicts, numbered as in ABI.md.
const (
	VerdictPass Verdict = iota
	VerdictAllow
	VerdictDeny
	verdictContinue // authenticate only: another round of enhanced auth
)

// String spells the verdict: "pass", "allow", "deny" or "continue".
func (v Verdict) String() string {
	switch v {
	case VerdictAllow:
		return "allow"
	case VerdictDeny:
		return "deny"
	case verdictContinue:
		return "continue"
	}
	return "pass"
}

// ReasonCode is an MQTT 5.0 reason code, sent to the client on a deny or reject.
type ReasonCode uint8

// Reason codes a plugin commonly answers with (MQTT 5.0, section 2.4).
const (
	UnspecifiedError        ReasonCode = 0x80
	ImplementationSpecific  ReasonCode = 0x83
	ClientIDNotValid        ReasonCode = 0x85
	BadUsernameOrPassword   ReasonCode = 0x86
	NotAuthorized           ReasonCode = 0x87
	ServerBusy              ReasonCode = 0x89
	Banned                  ReasonCode = 0x8A
	BadAuthenticationMethod ReasonCode = 0x8C
	TopicNameInvalid        ReasonCode = 0x90
	MessageRateTooHigh      ReasonCode = 0x96 // DISCONNECT only: not valid on PUBACK
	QuotaExceeded           ReasonCode = 0x97
	PayloadFormatInvalid    ReasonCode = 0x99
	ConnectionRateExceeded  ReasonCode = 0x9F
)

// Decision is the answer of an authenticate or authorize handler. Build one
// with Allow, Deny, Pass or ContinueAuth and refine it with the With methods.
type Decision struct {
	Verdict      Verdict
	Reason       ReasonCode // sent with a deny; zero means NotAuthorized
	ReasonString string     // sent with a deny to MQTT 5 clients
	// Attributes are attached to the client on an authenticate Allow (roles,
	// tenant, ...); later calls see them through Client.Attribute.
	Attributes []Pair
	// MaxQoS, when HasMaxQoS, caps the granted (subscribe) or accepted (publish)
	// QoS of an authorize Allow or Pass.
	MaxQoS    byte
	HasMaxQoS bool
	// Cache lets the broker reuse an authorize answer for this client, topic,
	// action and QoS until the client disconnects or the plugins change. Set it
	// (with Cacheable) only for answers that depend on nothing else: not on
	// time, counters or the key-value store.
	Cache bool
	// AuthData is sent to the client in AUTH 0x18 by ContinueAuth.
	AuthData []byte
	// Principal, with an authenticate Allow, names the identity the client
	// authenticated as; "" means its username. The identity owns the
	// client's sessions: another identity cannot resume them.
	Principal string
}

// Allow returns a Decision that admits the client or the action.
func Allow() Decision { return Decision{Verdict: VerdictAllow} }

// Deny returns a Decision that refuses with reason and, for MQTT 5 clients, a
// human-readable why (empty to send none).
func Deny(reason ReasonCode, why string) Decision {
	return Decision{Verdict: VerdictDeny, Reason: reason, ReasonString: why}
}

// Pass returns a Decision that leaves the choice to the next plugin.
func Pass() Decision { return Decision{} }

// ContinueAuth returns an authenticate Decision that asks the client for another
// round of MQTT 5 enhanced authentication, sending data in AUTH 0x18.
func ContinueAuth(data []byte) Decision {
	return Decision{Verdict: verdictContinue, AuthData: data}
}

// WithAttribute returns d with attribute key=value to attach to the client.
func (d Decision) WithAttribute(key, value string) Decision {
	d.Attributes = append(d.Attributes[:len(d.Attributes):len(d.Attributes)], Pair{key, value})
	return d
}

// WithPrincipal returns d naming the identity an authenticate Allow admits
// the client as (see Decision.Principal).
func (d Decision) WithPrincipal(p string) Decision {
	d.Principal = p
	return d
}

// WithMaxQoS returns d capping the QoS of the authorized action at q.
func (d Decision) WithMaxQoS(q byte) Decision {
	d.MaxQoS, d.HasMaxQoS = q, true
	return d
}

// Cacheable returns d marked as reusable by the broker (see Decision.Cache):
// an authorize plugin that decides from the client and the topic alone then
// costs one call per topic, not one per message.
func (d Decision) Cacheable() Decision {
	d.Cache = true
	return d
}

// PublishAction is what an on-publish handler decides for a message.
type PublishAction uint8

// The on-publish outcomes, numbered as in ABI.md.
const (
	ActionDeliver PublishAction = iota
	ActionDrop
	ActionReject
)

// PublishDecision is the answer of an on-publish handler.
type PublishDecision struct {
	Action       PublishAction
	Reason       ReasonCode // for a reject; zero means ImplementationSpecific
	ReasonString string
}

// Deliver lets the message go on to the next plugin and to its subscribers.
func Deliver() PublishDecision { return PublishDecision{} }

// Drop accepts the message from the publisher but delivers it to no one.
func Drop() PublishDecision { return PublishDecision{Action: ActionDrop} }

// Reject refuses the message; an MQTT 5 publisher sees reason (and why) on its
// acknowledgement.
func Reject(reason ReasonCode, why string) PublishDecision {
	return PublishDecision{Action: ActionReject, Reason: reason, ReasonString: why}
}

var handlers struct {
	init       func(config []byte) error
	authn      func(*AuthEvent) Decision
	authz      func(*AuthzEvent) Decision
	publish    func(*Message) PublishDecision
	transform  func(*Message) error
	connect    func(Client)
	disconnect func(Client, ReasonCode)
	filters    []string
}

// OnInit registers the handler that receives the plugin's config (the bytes of
// the broker config's plugin section) when an instance starts. Returning an
// error refuses the config: the host does not load the plugin (or keeps the
// old one serving on reload) and logs the error.
func OnInit(f func(config []byte) error) { handlers.init = f }

// OnAuthenticate registers the handler of each CONNECT and AUTH.
func OnAuthenticate(f func(*AuthEvent) Decision) { handlers.authn = f }

// OnAuthorize registers the handler of each PUBLISH topic and SUBSCRIBE filter.
func OnAuthorize(f func(*AuthzEvent) Decision) { handlers.authz = f }

// OnPublish registers the handler of each accepted PUBLISH whose topic matches
// one of the Filters. Changes it makes to the Message are ignored.
func OnPublish(f func(*Message) PublishDecision) { handlers.publish = f }

// OnTransform registers the handler that may rewrite the topic, payload and
// properties of each accepted PUBLISH whose topic matches one of the Filters.
// Returning an error leaves the message as it was and counts as a failure
// (the chain's failure policy applies).
func OnTransform(f func(*Message) error) { handlers.transform = f }

// OnConnect registers the handler told of each client that has connected.
func OnConnect(f func(Client)) { handlers.connect = f }

// OnDisconnect registers the handler told of each client that has gone, with
// the reason of the disconnection.
func OnDisconnect(f func(Client, ReasonCode)) { handlers.disconnect = f }

// Filters restricts OnPublish and OnTransform to messages whose topic matches
// one of the MQTT topic filters given ("sensors/+/temp", "logs/#"). Without a
// call, they see every message. Call it from init or from the OnInit handler
// (to take the filters from the config).
func Filters(filters ...string) { handlers.filters = append(handlers.filters, filters...) }

func declaredPoints() uint32 {
	var p uint32
	if handlers.authn != nil {
		p |= pointAuthenticate
	}
	if handlers.authz != nil {
		p |= pointAuthorize
	}
	if handlers.publish != nil {
		p |= pointOnPublish
	}
	if handlers.transform != nil {
		p |= pointTransform
	}
	if handlers.connect != nil || handlers.disconnect != nil {
		p |= pointLifecycle
	}
	return p
}

// errResultCode is what an export returns when the handler failed.
const errResultCode = -1

func setError(err error) {
	msg := err.Error()
	hostResultSet(fieldError, strPtr(msg), uint32(len(msg)))
}

// ErrBadConfig is a convenience for OnInit handlers that refuse a config.
var ErrBadConfig = errors.New("bad plugin config")
