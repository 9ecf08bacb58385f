package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// handle runs the CONNECT exchange on a new connection and, when it succeeds,
// starts the client's read loop on a goroutine of its own. handle's goroutine
// then ends, so the deep stack that authentication may have grown is freed and
// an idle connection keeps only a small one.
func (b *Broker) handle(conn net.Conn, listener string) {
	defer b.wg.Done()
	c := newClient(b, conn, listener)
	a := admission{policy: b.policyFor(listener)}
	if !b.track(c, &a) {
		_ = conn.Close()
		return
	}
	// A TLS handshake happens here, on the connection's own goroutine.
	a.ti = c.readTransportInfo(conn)
	if a.ti.Err != nil {
		b.transportRefused(c, a.ti.Err)
	}
	if a.ti.Err != nil || !c.handshake(&a) {
		if c.hooked && b.hooks.Provides(hooks.PointLifecycle) {
			// Plugins may have made per-client state in authenticate: tell
			// them the client is gone, whatever refused it.
			b.hooks.OnDisconnect(context.Background(), &c.info, orDefault(c.refused, packets.UnspecifiedError))
		}
		c.closeWrites(time.Second, true)
		b.untrack(c)
		c.markDone()
		c.drainAndClose()
		return
	}
	// A client is usually quiet right after CONNACK: park at once rather
	// than keep a goroutine waiting (the poller wakes it when bytes arrive).
	c.register()
	if c.rd.empty() && b.parkAfter > 0 && c.park() {
		return
	}
	b.wg.Add(1)
	go c.run()
}

// handshake reads and answers CONNECT (and any AUTH exchange). It returns
// true when the client is connected and its session attached.
func (c *client) handshake(a *admission) bool {
	b := c.b
	_ = c.conn.SetReadDeadline(time.Now().Add(c.lim.ConnectTimeout))
	h, body, err := c.rd.next(c.preAuthLimit(), c.b.partials)
	if err != nil {
		if errors.Is(err, errPacketTooLarge) {
			// A stranger may not make us hold more than MaxConnectSize.
			c.logInfo().Int("announced", h.Remaining).Uint32("max_connect_size", c.lim.MaxConnectSize).
				Msg("CONNECT too large: connection closed")
		} else {
			c.logDebug().Err(err).Msg("no CONNECT")
		}
		return false
	}
	if h.Type != packets.TypeConnect {
		// [MQTT-3.1.0-1] the first packet must be CONNECT.
		c.logInfo().Str("packet", h.Type.String()).Msg("first packet is not CONNECT")
		return false
	}
	// Decoded in place, not by packets.Decode: a Connect on the heap is
	// garbage once the handshake is over, in the client struct's size class,
	// and a fleet's connect burst left half of that class's spans empty
	// (docs/decisions/0048).
	var connect packets.Connect
	cp := &connect
	if err := cp.Decode(h, body); err != nil {
		c.refuseMalformed(body, err)
		return false
	}
	c.version = cp.ProtocolVersion
	c.info.ProtocolVersion = cp.ProtocolVersion
	c.info.ID = cp.ClientID
	c.info.Username = cp.Username
	c.info.SetPassword(cp.Password)
	c.info.SetUserProperties(cp.Properties.User)
	if cp.Will != nil {
		c.ext().will = cp.Will
	}

	var ack packets.Connack
	if reason := c.negotiate(cp, &ack); reason != packets.Success {
		c.refuse(reason, "")
		return false
	}
	if reason, why := c.admitConnection(a); reason != packets.Success {
		c.refuse(reason, why)
		return false
	}
	if reason, why := c.authenticate(cp, &ack, a); reason != packets.Success {
		c.observeAuthFailed(reason, why)
		c.refuse(reason, why)
		return false
	}
	if c.persistentNoQuorum(cp.CleanStart) {
		c.refuseConnectNoQuorum()
		return false
	}
	c.beginPacket()
	c.keepStrings(cp)
	c.connAt = time.Now().UnixNano() // before attach publishes c under b.mu: Broker.Clients reads it there
	present, err := b.attach(c, cp.CleanStart)
	if errors.Is(err, errNotOwner) {
		c.observeAuthFailed(packets.NotAuthorized, err.Error())
		c.refuse(packets.NotAuthorized, err.Error())
		return false
	}
	if err != nil {
		c.refuse(packets.ServerUnavailable, err.Error())
		return false
	}
	ack.SessionPresent = present
	// Counted before its CONNACK can leave: a client holding a CONNACK is in
	// Stats.ClientsConnected, which tests and operators read as such.
	b.stats.connectedNow(c)
	// CONNACK goes into the write buffer before anything the session resends,
	// once the session is durable.
	c.sendHeld(&ack)
	c.entry.Attach(c, int(c.window))
	c.logInfo().
		Uint8("protocol_version", c.version).
		Str("username", c.info.Username).
		Bool("clean_start", cp.CleanStart).
		Bool("session_present", present).
		Uint16("keep_alive", cp.KeepAlive).
		Str("listener", c.info.Listener).
		Msg("client connected")
	c.observeConnected(cp.CleanStart, present, cp.KeepAlive)
	if b.hooks.Provides(hooks.PointLifecycle) {
		b.hooks.OnConnect(context.Background(), &c.info)
	}
	return true
}

// negotiate checks the CONNECT against our limits and fills the CONNACK's
// capability properties.
func (c *client) negotiate(cp *packets.Connect, ack *packets.Connack) packets.ReasonCode {
	b := c.b
	l := c.lim
	v5 := c.version == packets.V5
	if cp.ClientID == "" {
		// [MQTT-3.1.3-8] 3.1.1 allows an empty id only with Clean Session;
		// 3.1 never. 5.0 assigns one [MQTT-3.1.3-6].
		if c.version == packets.V31 || (c.version == packets.V311 && !cp.CleanStart) {
			return packets.ClientIdentifierNotValid
		}
		c.info.ID = "plume-" + randomID()
		if v5 {
			ack.Properties.AssignedClientID = c.info.ID
			ack.Properties.Set(packets.PropAssignedClientID)
		}
	}
	if len(c.info.ID) > l.MaxClientIDLength || (c.version == packets.V31 && len(c.info.ID) > 23) {
		return packets.ClientIdentifierNotValid
	}
	if c.connectWill() != nil {
		if err := b.checkTopicName(c.connectWill().Topic); err != nil {
			return packets.TopicNameInvalid
		}
		if c.connectWill().QoS > *l.MaxQoS {
			return packets.QoSNotSupported // [MQTT-3.2.2-12]
		}
		if c.connectWill().Retain && !*l.RetainAvailable {
			return packets.RetainNotSupported // [MQTT-3.2.2-13]
		}
	}
	keep := cp.KeepAlive
	if v5 && keep > l.MaxKeepAlive {
		keep = l.MaxKeepAlive // [MQTT-3.2.2-21] the client must use ours
		ack.Properties.ServerKeepAlive = keep
		ack.Properties.Set(packets.PropServerKeepAlive)
	}
	c.keepAlive = keep
	c.window = l.MaxInflight
	c.problemInfo = true
	switch {
	case v5:
		// Every 5.0 connection has its rare part: its topic aliases may be
		// needed at any packet, and it is made only here (clientRare).
		c.ext()
		c.sessionExpiry = min(cp.Properties.SessionExpiry, l.MaxSessionExpiry)
		if cp.Properties.SessionExpiry > l.MaxSessionExpiry {
			ack.Properties.SessionExpiry = c.sessionExpiry
			ack.Properties.Set(packets.PropSessionExpiry)
		}
		if cp.Properties.Has(packets.PropReceiveMaximum) {
			c.window = min(c.window, cp.Properties.ReceiveMaximum)
		}
		c.maxOut = cp.Properties.MaximumPacketSize
		if l.OutboundTopicAliases {
			c.rare.aliasMaxOut = cp.Properties.TopicAliasMaximum
		}
		if cp.Properties.Has(packets.PropRequestProblemInfo) {
			c.problemInfo = cp.Properties.RequestProblemInfo == 1
		}
		c.rare.authMeth = cp.Properties.AuthMethod
		c.capabilities(ack)
	case !cp.CleanStart:
		c.sessionExpiry = l.MaxSessionExpiry // 3.1.1 persistent session
	}
	return packets.Success
}

// capabilities announces what this broker supports in CONNACK
// (MQTT 5.0 §3.2.2.3), Maximum QoS among them [MQTT-3.2.2-9].
func (c *client) capabilities(ack *packets.Connack) {
	l := c.lim
	p := &ack.Properties
	p.ReceiveMaximum = l.MaxInflight
	p.Set(packets.PropReceiveMaximum)
	p.MaximumPacketSize = l.MaxPacketSize
	p.Set(packets.PropMaximumPacketSize)
	p.TopicAliasMaximum = l.TopicAliasMaximum
	p.Set(packets.PropTopicAliasMaximum)
	if *l.MaxQoS < 2 {
		p.MaximumQoS = *l.MaxQoS
		p.Set(packets.PropMaximumQoS)
	}
	if !*l.RetainAvailable {
		p.RetainAvailable = 0
		p.Set(packets.PropRetainAvailable)
	}
	// Wildcards, subscription identifiers and shared subscriptions are all
	// available; saying so explicitly costs 6 bytes and spares clients a guess.
	p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable = 1, 1, 1
	p.Set(packets.PropWildcardSubAvailable)
	p.Set(packets.PropSubIDAvailable)
	p.Set(packets.PropSharedSubAvailable)
}

// authenticate runs the authenticate hooks, including an enhanced
// authentication exchange of AUTH packets (MQTT 5.0 §4.12).
func (c *client) authenticate(cp *packets.Connect, ack *packets.Connack, a *admission) (packets.ReasonCode, string) {
	b := c.b
	if !b.hooks.Provides(hooks.PointAuthenticate) {
		if c.authMethod() != "" {
			return packets.BadAuthenticationMethod, "no authentication method is configured"
		}
		return c.undecided(a, "anonymous clients are not allowed")
	}
	req := hooks.AuthRequest{Client: &c.info, Step: hooks.AuthConnect, Method: c.authMethod(), Data: cp.Properties.AuthData}
	c.hooked = true
	for {
		res, err := b.hooks.Authenticate(context.Background(), &req)
		if err != nil {
			b.hookFailed(hooks.PointAuthenticate, &c.info, err)
		}
		res = b.opts.HookFailure.Authenticated(res, err)
		switch {
		case res.Continue && c.version == packets.V5 && c.authMethod() != "":
			// [MQTT-4.12.0-2] AUTH 0x18 with the same method, then wait for the client's AUTH.
			a := packets.Auth{Reason: packets.ContinueAuthentication}
			a.Properties.AuthMethod, a.Properties.AuthData = c.authMethod(), res.Data
			a.Properties.Set(packets.PropAuthMethod)
			if res.Data != nil {
				a.Properties.Set(packets.PropAuthData)
			}
			c.send(&a)
			next, err := c.readAuth()
			if err != nil {
				return packets.ProtocolError, err.Error()
			}
			req.Step, req.Data = hooks.AuthContinue, next.Properties.AuthData
			continue
		case res.Verdict == hooks.Allow:
			c.info.Attributes = res.Attributes
			c.info.Authenticated, c.info.Principal = true, orString(res.Principal, c.info.Username) // the principal it named, else the username it allowed
			if c.authMethod() != "" {
				ack.Properties.AuthMethod = c.authMethod()
				ack.Properties.Set(packets.PropAuthMethod)
				if res.Data != nil {
					ack.Properties.AuthData = res.Data
					ack.Properties.Set(packets.PropAuthData)
				}
			}
			return packets.Success, ""
		case res.Verdict == hooks.Deny:
			b.stats.authDenied.Add(1)
			reason := res.Reason
			if reason == 0 {
				reason = packets.NotAuthorized
			}
			return reason, res.ReasonString
		}
		// Every hook passed.
		if c.authMethod() != "" {
			return packets.BadAuthenticationMethod, "no plugin accepts this authentication method"
		}
		return c.undecided(a, "no plugin authenticated the client")
	}
}

// undecided is the verdict on a client that no authenticate hook allowed or
// denied: a verified certificate on a listener that takes it as identity
// authenticates it; otherwise the listener's anonymous rule decides.
func (c *client) undecided(a *admission, why string) (packets.ReasonCode, string) {
	switch {
	case a.policy.UseIdentityAsUsername:
		// admitConnection refused every client without a certificate's name.
		c.info.Authenticated, c.info.Principal = true, c.info.Username
		return packets.Success, ""
	case a.policy.AllowAnonymous:
		return packets.Success, ""
	}
	return packets.NotAuthorized, why
}

// orString is s, or def when s is empty.
func orString(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// readAuth reads the client's next AUTH in an enhanced-authentication exchange.
func (c *client) readAuth() (*packets.Auth, error) {
	h, body, err := c.rd.next(c.preAuthLimit(), c.b.partials)
	if err != nil {
		return nil, err
	}
	if h.Type != packets.TypeAuth {
		return nil, errors.New("expected AUTH during authentication [MQTT-4.12.0-4]")
	}
	p, err := packets.Decode(h, body, c.version)
	if err != nil {
		return nil, err
	}
	a := p.(*packets.Auth)
	if a.Reason != packets.ContinueAuthentication || a.Properties.AuthMethod != c.authMethod() {
		return nil, errors.New("AUTH with another method or reason [MQTT-4.12.0-5]")
	}
	return a, nil
}

// refuse answers CONNECT with an error CONNACK [MQTT-3.2.2-6] and logs it.
func (c *client) refuse(reason packets.ReasonCode, why string) {
	c.answerRefusal(reason, why)
	c.logWarn().Str("username", c.info.Username).
		Uint8("protocol_version", c.version).Str("reason", reason.String()).Str("why", why).
		Msg("connection refused")
}

// answerRefusal sends the error CONNACK and counts it, without the log
// line: refusals that may come in floods log at a rate of their own.
func (c *client) answerRefusal(reason packets.ReasonCode, why string) {
	c.refused = reason
	c.saidGoodbye = true
	ack := packets.Connack{Reason: reason}
	// A 3.1.1 CONNACK is mapped to its return code by Connack.Append; mapping
	// here too turned 0x85 into 2 and then 2 into 3 [MQTT-3.2.2-6].
	if c.version == packets.V5 && why != "" && c.problemInfo {
		ack.Properties.ReasonString = why
		ack.Properties.Set(packets.PropReasonString)
		c.fitReason(&ack, &ack.Properties) // [MQTT-3.2.2-19]
	}
	c.send(&ack)
	c.b.stats.refusedBy[reason].Add(1)
	c.b.stats.listenerStats(c.info.Listener).refused.Add(1)
}

// refuseMalformed answers a CONNECT that did not decode. An unknown protocol
// version gets return code 0x01 / reason 0x84 [MQTT-3.1.2-2]; other errors
// get a CONNACK only when the version is known to be 5.0 [MQTT-3.1.4-1].
func (c *client) refuseMalformed(body []byte, err error) {
	var perr *packets.Error
	if !errors.As(err, &perr) {
		return
	}
	c.version = packets.V311
	if len(body) >= 7 && body[6] == packets.V5 {
		c.version = packets.V5
	}
	switch {
	case perr.Reason == packets.UnsupportedProtocolVersion:
		c.refuse(perr.Reason, perr.Msg)
	case c.version == packets.V5:
		c.refuse(perr.Reason, perr.Msg)
	default:
		c.logInfo().Str("error", perr.Msg).Msg("malformed CONNECT")
	}
}

// preAuthLimit is the largest packet a client not yet authenticated may send.
func (c *client) preAuthLimit() uint32 { return min(c.lim.MaxPacketSize, c.lim.MaxConnectSize) }

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
