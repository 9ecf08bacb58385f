package broker_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// policy is a hooks.Hooks written in plain Go, as a plugin would behave.
type policy struct {
	hooks.Base
	connects, disconnects atomic.Int32
}

func (*policy) Provides(hooks.Point) bool { return true }

func (*policy) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	if r.Method == "challenge" {
		switch {
		case r.Step == hooks.AuthConnect || r.Step == hooks.AuthReauth:
			return hooks.AuthResult{Continue: true, Data: []byte("nonce")}, nil
		case bytes.Equal(r.Data, []byte("answer")):
			return hooks.AuthResult{Verdict: hooks.Allow, Data: []byte("welcome")}, nil
		}
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.NotAuthorized}, nil
	}
	switch r.Client.Username {
	case "bad":
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword, ReasonString: "wrong password"}, nil
	case "good":
		return hooks.AuthResult{Verdict: hooks.Allow, Attributes: map[string]string{"role": "admin"}}, nil
	}
	return hooks.AuthResult{}, nil // pass: AllowAnonymous decides
}

func (*policy) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	switch {
	case strings.HasPrefix(r.Topic, "deny/"):
		return hooks.AuthzResult{Verdict: hooks.Deny, ReasonString: "no entry"}, nil
	case strings.HasPrefix(r.Topic, "low/"):
		return hooks.AuthzResult{Verdict: hooks.Allow, LowerQoS: true, QoS: 0}, nil
	}
	return hooks.AuthzResult{Verdict: hooks.Allow}, nil
}

func (*policy) OnPublish(_ context.Context, _ *hooks.Client, m *packets.Publish) (hooks.PublishResult, error) {
	switch {
	case strings.HasPrefix(m.Topic, "drop/"):
		return hooks.PublishResult{Action: hooks.Drop}, nil
	case strings.HasPrefix(m.Topic, "reject/"):
		return hooks.PublishResult{Action: hooks.Reject, Reason: packets.QuotaExceeded, ReasonString: "too many"}, nil
	}
	return hooks.PublishResult{}, nil
}

func (*policy) Transform(_ context.Context, _ *hooks.Client, m *packets.Publish) error {
	if rest, ok := strings.CutPrefix(m.Topic, "raw/"); ok {
		m.Topic = "cooked/" + rest
		m.Payload = bytes.ToUpper(m.Payload)
	}
	switch m.Topic { // a careless plugin
	case "typed/x":
		m.Properties.ContentType = "text/plain"
		m.Properties.Set(packets.PropContentType)
	case "evil/sys":
		m.Topic = "$SYS/broker/version"
	case "evil/wild":
		m.Topic = "cooked/#"
	}
	return nil
}

func (p *policy) OnConnect(context.Context, *hooks.Client) { p.connects.Add(1) }

func (p *policy) OnDisconnect(context.Context, *hooks.Client, packets.ReasonCode) {
	p.disconnects.Add(1)
}

func startPolicyBroker(t *testing.T) (*testBroker, *policy) {
	p := &policy{}
	return startBroker(t, broker.Options{Hooks: p}), p
}

func TestAuthenticateHookVerdicts(t *testing.T) {
	tb, _ := startPolicyBroker(t) // AllowAnonymous off
	for _, tc := range []struct {
		name     string
		version  byte
		username string
		want     packets.ReasonCode
	}{
		{"5.0 denied with the hook's reason", packets.V5, "bad", packets.BadUserNameOrPassword},
		{"3.1.1 denied as return code 4", packets.V311, "bad", packets.BadUserNameOrPassword},
		{"5.0 allowed", packets.V5, "good", packets.Success},
		{"5.0 nobody decided and anonymous is off", packets.V5, "", packets.NotAuthorized},
		{"3.1.1 nobody decided", packets.V311, "", packets.NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tb.addr)
			ack := c.connect(&packets.Connect{ProtocolVersion: tc.version, CleanStart: true, ClientID: "auth",
				HasUsername: tc.username != "", Username: tc.username})
			if ack.Reason != tc.want {
				t.Fatalf("CONNACK %v, want %v", ack.Reason, tc.want)
			}
			if tc.want.IsError() {
				c.expectClosed()
				if tc.version == packets.V5 && tc.username == "bad" && ack.Properties.ReasonString != "wrong password" {
					t.Fatalf("reason string %q", ack.Properties.ReasonString)
				}
			}
		})
	}
}

func TestEnhancedAuthenticationAndReauthentication(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	c := dialRaw(t, tb.addr)
	cp := v5Connect("enhanced")
	cp.Properties.AuthMethod = "challenge"
	cp.Properties.Set(packets.PropAuthMethod)
	c.v = packets.V5
	c.send(cp)
	challenge := func() {
		t.Helper()
		a, ok := c.next().(*packets.Auth)
		if !ok || a.Reason != packets.ContinueAuthentication || string(a.Properties.AuthData) != "nonce" || a.Properties.AuthMethod != "challenge" {
			t.Fatalf("want AUTH 0x18 with the challenge, got %+v", a)
		}
		answer := &packets.Auth{Reason: packets.ContinueAuthentication}
		answer.Properties.AuthMethod, answer.Properties.AuthData = "challenge", []byte("answer")
		answer.Properties.Set(packets.PropAuthMethod)
		answer.Properties.Set(packets.PropAuthData)
		c.send(answer)
	}
	challenge()
	ack, ok := c.next().(*packets.Connack)
	if !ok || ack.Reason != packets.Success || ack.Properties.AuthMethod != "challenge" || string(ack.Properties.AuthData) != "welcome" {
		t.Fatalf("CONNACK %+v", ack)
	}

	// (MQTT 5.0 §4.12.1) re-authentication: AUTH 0x19, challenge, success.
	re := &packets.Auth{Reason: packets.ReAuthenticate}
	re.Properties.AuthMethod = "challenge"
	re.Properties.Set(packets.PropAuthMethod)
	c.send(re)
	challenge()
	done, ok := c.next().(*packets.Auth)
	if !ok || done.Reason != packets.Success {
		t.Fatalf("re-authentication ended with %+v", done)
	}
	c.send(&packets.Pingreq{})
	if p := c.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T after re-authentication", p)
	}
}

func TestEnhancedAuthenticationWrongAnswerRefused(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	c := dialRaw(t, tb.addr)
	cp := v5Connect("enhanced-bad")
	cp.Properties.AuthMethod = "challenge"
	cp.Properties.Set(packets.PropAuthMethod)
	c.v = packets.V5
	c.send(cp)
	if a, ok := c.next().(*packets.Auth); !ok || a.Reason != packets.ContinueAuthentication {
		t.Fatalf("want AUTH 0x18, got %+v", a)
	}
	answer := &packets.Auth{Reason: packets.ContinueAuthentication}
	answer.Properties.AuthMethod, answer.Properties.AuthData = "challenge", []byte("guess")
	answer.Properties.Set(packets.PropAuthMethod)
	answer.Properties.Set(packets.PropAuthData)
	c.send(answer)
	if ack, ok := c.next().(*packets.Connack); !ok || ack.Reason != packets.NotAuthorized {
		t.Fatalf("want CONNACK 0x87, got %+v", ack)
	}
	c.expectClosed()
}

func TestAuthMethodWithoutHooksRefused0x8C(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c := dialRaw(t, tb.addr)
	cp := v5Connect("no-method")
	cp.Properties.AuthMethod = "SCRAM-SHA-1"
	cp.Properties.Set(packets.PropAuthMethod)
	if ack := c.connect(cp); ack.Reason != packets.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v, want 0x8C", ack.Reason)
	}
}

func goodClient(t *testing.T, addr, id string) (*rawClient, *packets.Connack) {
	cp := v5Connect(id)
	cp.HasUsername, cp.Username = true, "good"
	return connectRaw(t, addr, cp)
}

func TestAuthorizeHook(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	c, _ := goodClient(t, tb.addr, "authz")
	c.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{sub("deny/x", 1), sub("low/x", 2), sub("ok/x", 2)}})
	p := c.next()
	ack, ok := p.(*packets.Suback)
	want := []packets.ReasonCode{packets.NotAuthorized, packets.GrantedQoS0, packets.GrantedQoS2}
	if !ok || len(ack.Reasons) != 3 || ack.Reasons[0] != want[0] || ack.Reasons[1] != want[1] || ack.Reasons[2] != want[2] {
		t.Fatalf("got %+v, want SUBACK %v", p, want)
	}
	c.publish(&packets.Publish{Topic: "deny/x", QoS: 1, PacketID: 2, Payload: []byte("x")})
	a := c.expectAck(packets.TypePuback, 2)
	if a.Reason != packets.NotAuthorized || a.Properties.ReasonString != "no entry" {
		t.Fatalf("PUBACK %v %q, want 0x87 with the hook's reason string", a.Reason, a.Properties.ReasonString)
	}
	// A message published at QoS 2 on low/ is capped at QoS 0 by the hook.
	c.publish(&packets.Publish{Topic: "low/x", QoS: 2, PacketID: 3, Payload: []byte("x")})
	// The broker routes before it acknowledges, so the delivery comes first.
	if m := c.nextPublish(); m.QoS != 0 {
		t.Fatalf("delivered at QoS %d, want 0", m.QoS)
	}
	c.expectAck(packets.TypePubrec, 3)
}

func TestReasonStringWithheldWithoutProblemInformation(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	cp := v5Connect("quiet")
	cp.HasUsername, cp.Username = true, "good"
	cp.Properties.RequestProblemInfo = 0
	cp.Properties.Set(packets.PropRequestProblemInfo)
	c, _ := connectRaw(t, tb.addr, cp)
	c.publish(&packets.Publish{Topic: "deny/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := c.expectAck(packets.TypePuback, 1); a.Reason != packets.NotAuthorized || a.Properties.Has(packets.PropReasonString) {
		t.Fatalf("PUBACK %v reason string %q, want 0x87 without [MQTT-3.1.2-29]", a.Reason, a.Properties.ReasonString)
	}
}

func TestOnPublishAndTransformHooks(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	s, _ := goodClient(t, tb.addr, "hook-sub")
	s.subscribe(1, sub("#", 1))
	p, _ := goodClient(t, tb.addr, "hook-pub")

	p.publish(&packets.Publish{Topic: "drop/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := p.expectAck(packets.TypePuback, 1); a.Reason != packets.Success {
		t.Fatalf("dropped message acknowledged with %v, want success", a.Reason)
	}
	p.publish(&packets.Publish{Topic: "reject/x", QoS: 1, PacketID: 2, Payload: []byte("x")})
	if a := p.expectAck(packets.TypePuback, 2); a.Reason != packets.QuotaExceeded || a.Properties.ReasonString != "too many" {
		t.Fatalf("rejected message acknowledged with %v %q", a.Reason, a.Properties.ReasonString)
	}
	for i, topic := range []string{"evil/sys", "evil/wild"} {
		id := uint16(10 + i)
		p.publish(&packets.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte("x")})
		if a := p.expectAck(packets.TypePuback, id); a.Reason != packets.ImplementationSpecificError {
			t.Fatalf("%s transformed into an invalid topic was acknowledged with %v, want 0x83", topic, a.Reason)
		}
	}
	p.publish(&packets.Publish{Topic: "raw/x", QoS: 1, PacketID: 3, Payload: []byte("abc")})
	p.expectAck(packets.TypePuback, 3)
	m := s.nextPublish()
	if m.Topic != "cooked/x" || string(m.Payload) != "ABC" {
		t.Fatalf("got %q on %q, want the transformed message only", m.Payload, m.Topic)
	}
	s.ack(packets.TypePuback, m.PacketID)
	s.expectNothing(100 * time.Millisecond)
}

// Properties a transform sets reach 5.0 subscribers whatever the
// publisher's version: a 3.1.1 client sends none of its own.
func TestTransformedPropertiesOfV311PublisherDelivered(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	s, _ := goodClient(t, tb.addr, "typed-sub")
	s.subscribe(1, sub("typed/#", 0))
	cp := v5Connect("typed-pub")
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", packets.V311
	cp.HasUsername, cp.Username = true, "good"
	p, _ := connectRaw(t, tb.addr, cp)
	p.publish(&packets.Publish{Topic: "typed/x", Payload: []byte("x")})
	if m := s.nextPublish(); !m.Properties.Has(packets.PropContentType) || m.Properties.ContentType != "text/plain" {
		t.Fatalf("got %+v, want the content type the transform set", m.Properties)
	}
}

func TestLifecycleHooksCalled(t *testing.T) {
	tb, pol := startPolicyBroker(t)
	c, _ := goodClient(t, tb.addr, "life")
	c.disconnect(packets.NormalDisconnection)
	eventually(t, "OnDisconnect", func() bool { return pol.disconnects.Load() == 1 })
	if n := pol.connects.Load(); n != 1 {
		t.Fatalf("OnConnect called %d times", n)
	}
}

func TestFailedReauthenticationDisconnects(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	c := dialRaw(t, tb.addr)
	cp := v5Connect("reauth-fail")
	cp.Properties.AuthMethod = "challenge"
	cp.Properties.Set(packets.PropAuthMethod)
	c.v = packets.V5
	c.send(cp)
	answer := func(data string) {
		t.Helper()
		if a, ok := c.next().(*packets.Auth); !ok || a.Reason != packets.ContinueAuthentication {
			t.Fatalf("want AUTH 0x18, got %+v", a)
		}
		a := &packets.Auth{Reason: packets.ContinueAuthentication}
		a.Properties.AuthMethod, a.Properties.AuthData = "challenge", []byte(data)
		a.Properties.Set(packets.PropAuthMethod)
		a.Properties.Set(packets.PropAuthData)
		c.send(a)
	}
	answer("answer")
	if ack, ok := c.next().(*packets.Connack); !ok || ack.Reason != packets.Success {
		t.Fatalf("CONNACK %+v", ack)
	}
	re := &packets.Auth{Reason: packets.ReAuthenticate}
	re.Properties.AuthMethod = "challenge"
	re.Properties.Set(packets.PropAuthMethod)
	c.send(re)
	answer("wrong")
	c.expectDisconnect(packets.NotAuthorized)
}

func TestWillDeniedByAuthorizeIsNotPublished(t *testing.T) {
	tb, _ := startPolicyBroker(t)
	w, _ := goodClient(t, tb.addr, "will-watch")
	w.subscribe(1, sub("#", 1))
	for _, topic := range []string{"deny/will", "ok/will"} {
		cp := willConnect("will-"+topic, topic, 0, 0)
		cp.HasUsername, cp.Username = true, "good"
		c, _ := connectRaw(t, tb.addr, cp)
		_ = c.conn.Close()
	}
	// Only the allowed will arrives.
	if m := w.nextPublish(); m.Topic != "ok/will" {
		t.Fatalf("will on %q published", m.Topic)
	}
}

// lifecycleCounter counts connect and disconnect notifications and refuses
// the user "nobody".
type lifecycleCounter struct {
	hooks.Base
	mu                    sync.Mutex
	connects, disconnects int
	lastReason            packets.ReasonCode
}

func (l *lifecycleCounter) Provides(p hooks.Point) bool {
	return p == hooks.PointAuthenticate || p == hooks.PointLifecycle
}

func (l *lifecycleCounter) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	if r.Client.Username == "nobody" {
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword}, nil
	}
	return hooks.AuthResult{Verdict: hooks.Allow}, nil
}

func (l *lifecycleCounter) OnConnect(context.Context, *hooks.Client) {
	l.mu.Lock()
	l.connects++
	l.mu.Unlock()
}

func (l *lifecycleCounter) OnDisconnect(_ context.Context, _ *hooks.Client, r packets.ReasonCode) {
	l.mu.Lock()
	l.disconnects++
	l.lastReason = r
	l.mu.Unlock()
}

func TestRefusedClientStillGetsOnDisconnect(t *testing.T) {
	lc := &lifecycleCounter{}
	tb := startBroker(t, broker.Options{Hooks: lc})
	cp := v5Connect("refused-one")
	cp.HasUsername, cp.Username = true, "nobody"
	c := dialRaw(t, tb.addr)
	c.write(cp.Append(nil, packets.V5))
	ack, ok := c.next().(*packets.Connack)
	if !ok || ack.Reason != packets.BadUserNameOrPassword {
		t.Fatalf("CONNACK = %v, want 0x86", ack)
	}
	eventually(t, "OnDisconnect for the refused client", func() bool {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		return lc.disconnects == 1 && lc.connects == 0 && lc.lastReason == packets.BadUserNameOrPassword
	})
}

// countingAuthz allows everything, counts its calls, and marks its answers
// cacheable for topics under "cached/".
type countingAuthz struct {
	hooks.Base
	calls atomic.Int32
}

func (a *countingAuthz) Provides(p hooks.Point) bool { return p == hooks.PointAuthorize }

func (a *countingAuthz) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	a.calls.Add(1)
	return hooks.AuthzResult{Verdict: hooks.Allow, Cache: strings.HasPrefix(r.Topic, "cached/")}, nil
}

func TestCacheableAuthorizationIsAskedOncePerTopicUntilTheHooksChange(t *testing.T) {
	authz := &countingAuthz{}
	chain := hooks.NewChain(zerolog.Nop(), hooks.Link{Name: "authz", Hooks: authz})
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Hooks: chain})
	c, _ := connectRaw(t, tb.addr, v5Connect("cache-pub"))
	id := uint16(0)
	publish := func(topic string, n int) {
		for i := 0; i < n; i++ {
			id++
			c.publish(&packets.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte("x")})
			c.expectAck(packets.TypePuback, id)
		}
	}
	publish("cached/a", 5)
	publish("cached/b", 3)
	publish("cached/a", 2) // from the map, no longer the last used
	publish("plain/a", 4)
	if n := authz.calls.Load(); n != 1+1+4 {
		t.Fatalf("authorize called %d times, want 6 (once per cacheable topic, every time otherwise)", n)
	}
	chain.Swap([]hooks.Link{{Name: "authz", Hooks: authz}}) // a reload voids the cache
	publish("cached/a", 2)
	if n := authz.calls.Load(); n != 7 {
		t.Errorf("after the chain changed: %d calls, want 7", n)
	}
}
