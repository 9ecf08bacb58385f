// Package hooks is the Go face of Plume's extension points: authenticate,
// authorize, on-publish and transform, plus client lifecycle notifications.
//
// The broker calls one Hooks value; a Chain composes many (the Wasm plugin host
// supplies one Hooks per plugin, tests supply plain Go). A message that no hook
// touches pays only for a Provides check.
package hooks

import (
	"context"

	"github.com/plumemq/plume/core/packets"
)

// Point names one extension point; Hooks.Provides is asked with these.
type Point uint8

// The extension points, in the order a PUBLISH meets them.
const (
	PointAuthenticate Point = 1 << iota // each CONNECT, and each AUTH
	PointAuthorize                      // each SUBSCRIBE filter and PUBLISH topic
	PointOnPublish                      // each accepted PUBLISH
	PointTransform                      // each accepted PUBLISH, after on-publish
	PointLifecycle                      // client connected / disconnected notifications
)

// String names the point as configs and logs spell it.
func (p Point) String() string {
	switch p {
	case PointAuthenticate:
		return "authenticate"
	case PointAuthorize:
		return "authorize"
	case PointOnPublish:
		return "on-publish"
	case PointTransform:
		return "transform"
	case PointLifecycle:
		return "lifecycle"
	}
	return "unknown"
}

// Verdict is a hook's three-way answer. Pass hands the decision to the next hook
// in the chain; the first Allow or Deny wins.
type Verdict uint8

// The verdicts.
const (
	Pass Verdict = iota
	Allow
	Deny
)

// String spells the verdict for logs.
func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "pass"
}

// Client is what the hooks know of a connected client. The broker fills it
// before authenticate; Attributes are those attached by authenticate and are
// read-only once the CONNACK is sent.
type Client struct {
	ID         string
	Username   string
	RemoteAddr string
	Listener   string
	// Creds are the password, TLS certificate and CONNECT user properties
	// the client presented; nil when it presented none of them. Read them
	// through the methods below, which need no nil check.
	Creds      *Credentials
	Attributes map[string]string
	// Principal is the identity the client was allowed as: the
	// AuthResult.Principal of the hook that allowed it, else its Username;
	// "" when anonymous. A persistent session belongs to the identity
	// (Authenticated, Principal) that created it, so this is also the owner
	// of the session the client is attached to (decision 0011).
	Principal string
	// Handle identifies the connection to plugins: the broker numbers its
	// connections so that no two share a handle while it runs. 0 (a Client
	// made by hand) leaves the numbering to the plugin host.
	Handle uint64

	// The small fields last, together: apart, their padding cost every
	// connection 16 bytes (docs/decisions/0041).
	ProtocolVersion byte
	// Authenticated is true when an authenticate hook allowed the client;
	// false for an anonymous one (no hook decided and AllowAnonymous let it in).
	Authenticated bool
	// authLink is 1 + the index of the chain link that asked to continue an
	// enhanced-authentication exchange, so the next AUTH goes back to it.
	authLink int32
}

// Credentials are what a client presented in CONNECT beside its
// identifiers: what proves who it is, and the user properties it sent
// (which some deployments authenticate on). They sit behind a pointer in
// Client because the broker keeps a Client for every connection's life:
// held inline by every idle connection that presents none of them (a
// fleet's anonymous or cert-less devices), they kept the broker's
// connection struct out of the 512-byte size class (docs/decisions/0042),
// and the user properties alone out of the 352-byte one (0049).
type Credentials struct {
	Password    []byte // the CONNECT password (or token), nil without one
	CertSubject string // TLS client-certificate subject, "" without one
	// CertSANs and CertFingerprint (SHA-256 of the DER, lower-case hex) come
	// from the same verified certificate. Each SAN is "KIND:name", KIND one
	// of DNS, IP, email, URI, as openssl prints them ("DNS:meter-7.example",
	// "URI:spiffe://fleet/meter-7"); plugins get them as ABI fields 16, 17.
	CertSANs        []string
	CertFingerprint string
	// UserProperties are the CONNECT's user properties (5.0), nil without.
	UserProperties []packets.UserProperty
}

// noCredentials stands in for a client that presented none, so that the
// accessors below need no nil check of their own.
var noCredentials Credentials

func (c *Client) credentials() *Credentials {
	if c.Creds == nil {
		return &noCredentials
	}
	return c.Creds
}

// Password is the CONNECT password, nil without one.
func (c *Client) Password() []byte { return c.credentials().Password }

// CertSubject is the subject of the client's verified TLS certificate, ""
// without one.
func (c *Client) CertSubject() string { return c.credentials().CertSubject }

// CertSANs are the subject alternative names of the client's verified TLS
// certificate (Credentials.CertSANs), nil without one.
func (c *Client) CertSANs() []string { return c.credentials().CertSANs }

// CertFingerprint is the SHA-256 of the client's verified TLS certificate in
// lower-case hex, "" without one.
func (c *Client) CertFingerprint() string { return c.credentials().CertFingerprint }

// UserProperties are the CONNECT's user properties (5.0), nil without any.
func (c *Client) UserProperties() []packets.UserProperty { return c.credentials().UserProperties }

// SetUserProperties records the CONNECT's user properties, making Creds
// only if there are some: a client that sent none keeps Creds nil.
func (c *Client) SetUserProperties(p []packets.UserProperty) {
	if len(p) == 0 && c.Creds == nil {
		return
	}
	if c.Creds == nil {
		c.Creds = &Credentials{}
	}
	c.Creds.UserProperties = p
}

// SetPassword records the CONNECT password, making Creds if there are none.
func (c *Client) SetPassword(p []byte) {
	if p == nil && c.Creds == nil {
		return
	}
	if c.Creds == nil {
		c.Creds = &Credentials{}
	}
	c.Creds.Password = p
}

// AuthStep tells which exchange an authenticate call belongs to.
type AuthStep uint8

// The authentication steps.
const (
	AuthConnect  AuthStep = iota // the CONNECT packet
	AuthContinue                 // an AUTH 0x18 in an enhanced-authentication exchange
	AuthReauth                   // an AUTH 0x19 from a connected client
)

// AuthRequest is one authenticate call.
type AuthRequest struct {
	Client *Client
	Step   AuthStep
	Method string // Authentication Method, "" for plain username/password
	Data   []byte // Authentication Data
}

// AuthResult is a hook's answer to an AuthRequest.
type AuthResult struct {
	Verdict Verdict
	// Reason is the CONNACK (or DISCONNECT, on re-authentication) reason on Deny;
	// zero means NotAuthorized.
	Reason       packets.ReasonCode
	ReasonString string
	// Continue asks the client for another round of enhanced authentication:
	// the broker sends AUTH 0x18 carrying Data and calls again with AuthContinue.
	Continue bool
	Data     []byte
	// Attributes are attached to the client (roles, tenant, device group) on Allow.
	Attributes map[string]string
	// Principal, on Allow, names the identity the client authenticated as
	// (a user id, a certificate's subject, a token's subject): it owns the
	// sessions the client creates and is what Client.Principal shows later
	// hooks. "" means the client's Username. On re-authentication a
	// Principal other than the client's current one is refused: a
	// connection never changes owner.
	Principal string
}

// Action is what an authorize call asks permission for.
type Action uint8

// The actions.
const (
	ActionPublish Action = iota
	ActionSubscribe
)

// String spells the action for logs.
func (a Action) String() string {
	if a == ActionSubscribe {
		return "subscribe"
	}
	return "publish"
}

// AuthzRequest is one authorize call: a PUBLISH topic or a SUBSCRIBE filter.
type AuthzRequest struct {
	Client *Client
	Action Action
	Topic  string // topic name, or the filter as subscribed ($share prefix included)
	QoS    byte
	Retain bool
}

// AuthzResult is a hook's answer to an AuthzRequest.
type AuthzResult struct {
	Verdict Verdict
	// Reason answers a Deny; zero means NotAuthorized.
	Reason       packets.ReasonCode
	ReasonString string
	// LowerQoS, with Allow or Pass, caps the granted (subscribe) or accepted
	// (publish) QoS at QoS.
	LowerQoS bool
	QoS      byte
	// Cache says the answer holds for this client, action, topic and QoS
	// until the client disconnects or the hooks change, so the broker may
	// reuse it instead of asking again. A chain's answer is cacheable only
	// when every link it consulted said so.
	Cache bool
}

// PublishAction is what on-publish decides for a message.
type PublishAction uint8

// The on-publish outcomes.
const (
	Continue PublishAction = iota // deliver (and go on to the next hook)
	Drop                          // accept from the publisher but deliver to no one
	Reject                        // refuse: a v5 publisher sees Reason on its ack
)

// PublishResult is a hook's answer to an on-publish call.
type PublishResult struct {
	Action       PublishAction
	Reason       packets.ReasonCode // for Reject; zero means ImplementationSpecificError
	ReasonString string
}

// Hooks is the extension-point interface. The broker asks Provides before each
// call, so an implementation only does the work of the points it provides.
// Implementations must be safe for concurrent use: the broker calls them from
// every connection's goroutine.
//
// An error means the call failed, never an answer: the broker reads it
// through its Options.HookFailure policy (Failure), which by default denies
// the client or refuses the message.
type Hooks interface {
	Provides(Point) bool
	Authenticate(ctx context.Context, req *AuthRequest) (AuthResult, error)
	Authorize(ctx context.Context, req *AuthzRequest) (AuthzResult, error)
	OnPublish(ctx context.Context, c *Client, m *packets.Publish) (PublishResult, error)
	// Transform may rewrite m's topic, payload and properties in place. It must
	// not modify the slices m holds on entry; it replaces them instead, since they
	// may alias the publisher's read buffer.
	Transform(ctx context.Context, c *Client, m *packets.Publish) error
	OnConnect(ctx context.Context, c *Client)
	OnDisconnect(ctx context.Context, c *Client, reason packets.ReasonCode)
}

// Base provides nothing and passes on everything. Embed it to implement only
// the points you need (and override Provides).
type Base struct{}

// Provides reports false for every point.
func (Base) Provides(Point) bool { return false }

// Authenticate passes.
func (Base) Authenticate(context.Context, *AuthRequest) (AuthResult, error) {
	return AuthResult{}, nil
}

// Authorize passes.
func (Base) Authorize(context.Context, *AuthzRequest) (AuthzResult, error) {
	return AuthzResult{}, nil
}

// OnPublish continues.
func (Base) OnPublish(context.Context, *Client, *packets.Publish) (PublishResult, error) {
	return PublishResult{}, nil
}

// Transform leaves the message unchanged.
func (Base) Transform(context.Context, *Client, *packets.Publish) error { return nil }

// OnConnect does nothing.
func (Base) OnConnect(context.Context, *Client) {}

// OnDisconnect does nothing.
func (Base) OnDisconnect(context.Context, *Client, packets.ReasonCode) {}

// ErrDropped is returned by Transform when the message must not be delivered
// (a fail-closed transform failed). The publisher still gets its acknowledgement.
var ErrDropped = errDropped{}

type errDropped struct{}

func (errDropped) Error() string { return "message dropped by a failed transform" }
