package broker_test

import (
	"context"
	"sync"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// passwords is a password plugin in plain Go: alice/apw and bob/bpw are
// allowed as themselves, carol/cpw as the principal "alice" (a second
// credential of the same identity); any other client passes, so
// AllowAnonymous decides. Authorize allows everything and records the
// principal it was shown.
type passwords struct {
	hooks.Base
	mu   sync.Mutex
	seen []string // principals authorize saw
}

func (*passwords) Provides(p hooks.Point) bool {
	return p == hooks.PointAuthenticate || p == hooks.PointAuthorize
}

func (*passwords) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	users := map[string]string{"alice": "apw", "bob": "bpw", "carol": "cpw"}
	switch {
	case users[r.Client.Username] == "":
		return hooks.AuthResult{}, nil // not ours to decide
	case users[r.Client.Username] != string(r.Client.Password()):
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword}, nil
	case r.Client.Username == "carol":
		return hooks.AuthResult{Verdict: hooks.Allow, Principal: "alice"}, nil
	}
	return hooks.AuthResult{Verdict: hooks.Allow}, nil
}

func (p *passwords) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	p.mu.Lock()
	p.seen = append(p.seen, r.Client.Principal)
	p.mu.Unlock()
	return hooks.AuthzResult{Verdict: hooks.Allow}, nil
}

// asUser is a CONNECT for id with Clean Start off (Clean Session 0 in 3.1.1)
// and, in 5.0, a 300 s session expiry; user "" is anonymous.
func asUser(version byte, id, user, password string) *packets.Connect {
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: version, ClientID: id}
	if user != "" {
		cp.HasUsername, cp.Username = true, user
		cp.HasPassword, cp.Password = true, []byte(password)
	}
	if version == packets.V5 {
		cp.Properties.SessionExpiry = 300
		cp.Properties.Set(packets.PropSessionExpiry)
	}
	return cp
}

// aliceWithQueuedMessage leaves alice's persistent session for id offline,
// subscribed to alice/private/# and holding one queued QoS 1 message.
func aliceWithQueuedMessage(t *testing.T, addr, id string) {
	t.Helper()
	a, _ := connectRaw(t, addr, asUser(packets.V5, id, "alice", "apw"))
	a.subscribe(1, sub("alice/private/#", 1))
	a.disconnect(packets.NormalDisconnection)
	p, _ := connectRaw(t, addr, v5Connect("alice-feeder"))
	p.publish(&packets.Publish{Topic: "alice/private/diary", QoS: 1, PacketID: 1, Payload: []byte("secret")})
	// PUBACK follows routing: the message is in alice's queue now.
	if a := p.expectAck(packets.TypePuback, 1); a.Reason != packets.Success {
		t.Fatalf("feeder PUBACK %v", a.Reason)
	}
}

// pingIsNext proves that nothing was queued for c before a PINGRESP: a
// resumed session's messages are written right behind the CONNACK.
func pingIsNext(t *testing.T, c *rawClient) {
	t.Helper()
	c.send(&packets.Pingreq{})
	if p := c.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T %+v, want PINGRESP and nothing of another identity's session", p, p)
	}
}

func TestAnotherIdentityIsRefusedTheSessionByDefault(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: &passwords{}, AllowAnonymous: true})
	aliceWithQueuedMessage(t, tb.addr, "shared-id")

	bob := dialRaw(t, tb.addr)
	if ack := bob.connect(asUser(packets.V5, "shared-id", "bob", "bpw")); ack.Reason != packets.NotAuthorized || ack.SessionPresent {
		t.Fatalf("bob with alice's client id: CONNACK %v present=%v, want 0x87 and no session", ack.Reason, ack.SessionPresent)
	}
	bob.expectClosed()

	// 3.1.1: the return code on the wire is 5, Not authorized.
	bob311 := dialRaw(t, tb.addr)
	bob311.write(asUser(packets.V311, "shared-id", "bob", "bpw").Append(nil, packets.V311))
	raw := make([]byte, 4)
	_ = bob311.conn.SetReadDeadline(deadline())
	if _, err := bob311.r.Read(raw); err != nil || raw[0] != 0x20 || raw[3] != 5 {
		t.Fatalf("3.1.1 CONNACK % x (%v), want 20 02 00 05", raw, err)
	}

	anon := dialRaw(t, tb.addr)
	if ack := anon.connect(asUser(packets.V5, "shared-id", "", "")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("anonymous with alice's client id: CONNACK %v, want 0x87", ack.Reason)
	}

	// Alice's session is untouched: she resumes it and gets her message.
	a, ack := connectRaw(t, tb.addr, asUser(packets.V5, "shared-id", "alice", "apw"))
	if !ack.SessionPresent {
		t.Fatal("alice lost her session to the refused attempts")
	}
	if m := a.nextPublish(); string(m.Payload) != "secret" {
		t.Fatalf("alice got %q", m.Payload)
	}
}

func TestPrincipalOwnsTheSessionAndAuthorizeSeesIt(t *testing.T) {
	pw := &passwords{}
	tb := startBroker(t, broker.Options{Hooks: pw, AllowAnonymous: true})
	aliceWithQueuedMessage(t, tb.addr, "alice-phone")
	// carol's credential authenticates as the principal alice: same identity.
	c, ack := connectRaw(t, tb.addr, asUser(packets.V5, "alice-phone", "carol", "cpw"))
	if !ack.SessionPresent {
		t.Fatal("the same principal under another username did not resume its session")
	}
	m := c.nextPublish()
	c.ack(packets.TypePuback, m.PacketID)
	c.subscribe(2, sub("alice/more", 0))
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if n := len(pw.seen); n < 2 || pw.seen[0] != "alice" || pw.seen[n-1] != "alice" {
		t.Fatalf("authorize saw principals %q, want alice for alice and for carol", pw.seen)
	}
}

func TestAnotherIdentityNeverKicksTheOwnersConnection(t *testing.T) {
	for _, mode := range []broker.OwnerMismatch{broker.OwnerMismatchRefuse, broker.OwnerMismatchFresh} {
		t.Run(mode.String(), func(t *testing.T) {
			tb := startBroker(t, broker.Options{Hooks: &passwords{}, AllowAnonymous: true, SessionOwnerMismatch: mode})
			alice, _ := connectRaw(t, tb.addr, asUser(packets.V5, "busy-id", "alice", "apw"))
			for _, who := range []string{"bob", ""} {
				cp := asUser(packets.V5, "busy-id", who, who[:min(len(who), 1)]+"pw")
				cp.CleanStart = true
				c := dialRaw(t, tb.addr)
				if ack := c.connect(cp); ack.Reason != packets.NotAuthorized {
					t.Fatalf("%q took alice's live client id: CONNACK %v, want 0x87", who, ack.Reason)
				}
			}
			pingIsNext(t, alice) // still connected, no DISCONNECT 0x8E
			// The owner herself still takes over her own connection [MQTT-3.1.4-3].
			connectRaw(t, tb.addr, asUser(packets.V5, "busy-id", "alice", "apw"))
			alice.expectDisconnect(packets.SessionTakenOver)
		})
	}
}

func TestFreshModeGivesAnotherIdentityANewSession(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: &passwords{}, AllowAnonymous: true, SessionOwnerMismatch: broker.OwnerMismatchFresh})
	w := watch(t, tb.addr, "alice/will")
	// Alice's session waits with a delayed will and a queued message.
	a, _ := connectRaw(t, tb.addr, func() *packets.Connect {
		cp := asUser(packets.V5, "fresh-id", "alice", "apw")
		cp.Will = &packets.Will{Topic: "alice/will", Payload: []byte("alice gone"), QoS: 1}
		cp.Will.Properties.WillDelay = 200
		cp.Will.Properties.Set(packets.PropWillDelay)
		return cp
	}())
	a.subscribe(1, sub("alice/private/#", 1))
	_ = a.conn.Close() // the will waits for its delay
	eventually(t, "alice offline", func() bool { return tb.Stats().ClientsConnected == 1 })
	p, _ := connectRaw(t, tb.addr, v5Connect("feeder"))
	p.publish(&packets.Publish{Topic: "alice/private/diary", QoS: 1, PacketID: 1, Payload: []byte("secret")})
	p.expectAck(packets.TypePuback, 1)

	bob := dialRaw(t, tb.addr)
	ack := bob.connect(asUser(packets.V5, "fresh-id", "bob", "bpw"))
	if ack.Reason != packets.Success || ack.SessionPresent {
		t.Fatalf("bob: CONNACK %v present=%v, want a fresh session", ack.Reason, ack.SessionPresent)
	}
	pingIsNext(t, bob) // none of alice's messages
	// Her session ended, so its will is published now [MQTT-3.1.3-9].
	if m := w.nextPublish(); string(m.Payload) != "alice gone" {
		t.Fatalf("watcher got %q, want alice's will", m.Payload)
	}
	// Nor do her subscriptions carry over to bob.
	p.publish(&packets.Publish{Topic: "alice/private/diary", QoS: 1, PacketID: 2, Payload: []byte("more")})
	if a := p.expectAck(packets.TypePuback, 2); a.Reason != packets.NoMatchingSubscribers {
		t.Fatalf("PUBACK %v: alice's subscription survived in bob's session", a.Reason)
	}
	bob.disconnect(packets.NormalDisconnection)

	// Alice, back: bob's session is not hers either, so she starts afresh.
	a2, ack := connectRaw(t, tb.addr, asUser(packets.V5, "fresh-id", "alice", "apw"))
	if ack.SessionPresent {
		t.Fatal("alice resumed bob's session")
	}
	pingIsNext(t, a2)
}

func TestSessionOwnerSurvivesARestart(t *testing.T) {
	store := session.NewMemoryStore()
	opts := broker.Options{Hooks: &passwords{}, AllowAnonymous: true, Store: store}
	tb := startBrokerNoCleanup(t, opts)
	a, _ := connectRaw(t, tb.addr, asUser(packets.V5, "durable-id", "alice", "apw"))
	a.subscribe(1, sub("alice/#", 1))
	a.disconnect(packets.NormalDisconnection)
	tb.shutdown(t)

	tb = startBroker(t, opts)
	bob := dialRaw(t, tb.addr)
	if ack := bob.connect(asUser(packets.V5, "durable-id", "bob", "bpw")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("after a restart bob got CONNACK %v for alice's session, want 0x87", ack.Reason)
	}
	if _, ack := connectRaw(t, tb.addr, asUser(packets.V5, "durable-id", "alice", "apw")); !ack.SessionPresent {
		t.Fatal("alice's restored session is gone")
	}
}

func TestUsernameNoHookAllowedIsAnonymous(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: &passwords{}, AllowAnonymous: true})
	// dave is no user of the plugin: it passes, AllowAnonymous admits him,
	// and the name he claimed proves nothing.
	c, _ := connectRaw(t, tb.addr, asUser(packets.V5, "claim-id", "dave", "x"))
	c.disconnect(packets.NormalDisconnection)
	if _, ack := connectRaw(t, tb.addr, asUser(packets.V5, "claim-id", "", "")); !ack.SessionPresent {
		t.Fatal("anonymous clients cannot resume a session another anonymous client made")
	}
	if ack := dialRaw(t, tb.addr).connect(asUser(packets.V5, "claim-id", "alice", "apw")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("alice got CONNACK %v for an anonymous session's id, want 0x87", ack.Reason)
	}
}

// tokens allows every AUTH as the principal its authentication data names.
type tokens struct{ hooks.Base }

func (tokens) Provides(p hooks.Point) bool { return p == hooks.PointAuthenticate }

func (tokens) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	return hooks.AuthResult{Verdict: hooks.Allow, Principal: string(r.Data)}, nil
}

func TestReauthenticationCannotChangeTheOwner(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: tokens{}})
	cp := v5Connect("reauth-owner")
	cp.Properties.AuthMethod, cp.Properties.AuthData = "token", []byte("alice")
	cp.Properties.Set(packets.PropAuthMethod)
	cp.Properties.Set(packets.PropAuthData)
	c, _ := connectRaw(t, tb.addr, cp)
	reauth := func(principal string) {
		a := &packets.Auth{Reason: packets.ReAuthenticate}
		a.Properties.AuthMethod, a.Properties.AuthData = "token", []byte(principal)
		a.Properties.Set(packets.PropAuthMethod)
		a.Properties.Set(packets.PropAuthData)
		c.send(a)
	}
	for _, same := range []string{"alice", ""} { // "" names none: the identity stays
		reauth(same)
		if a, ok := c.next().(*packets.Auth); !ok || a.Reason != packets.Success {
			t.Fatalf("re-authentication as %q: got %+v, want AUTH success", same, a)
		}
	}
	reauth("mallory")
	c.expectDisconnect(packets.NotAuthorized)
}
