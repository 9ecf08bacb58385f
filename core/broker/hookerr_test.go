package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// failing is a hooks.Hooks in plain Go that returns errors, as a policy
// service that is down would: for the username "err", for topics under
// "err/" (authorize) and "operr/" (on-publish), and for every
// re-authentication. Everything else is allowed.
type failing struct{ hooks.Base }

var errDown = errors.New("policy service unreachable")

func (failing) Provides(p hooks.Point) bool {
	return p != hooks.PointTransform && p != hooks.PointLifecycle
}

func (failing) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	if r.Client.Username == "err" || r.Step == hooks.AuthReauth {
		return hooks.AuthResult{}, errDown
	}
	return hooks.AuthResult{Verdict: hooks.Allow}, nil
}

func (failing) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	if strings.HasPrefix(r.Topic, "err/") {
		// A half-filled answer beside the error must not count either.
		return hooks.AuthzResult{Verdict: hooks.Allow, Cache: true}, errDown
	}
	return hooks.AuthzResult{Verdict: hooks.Allow}, nil
}

func (failing) OnPublish(_ context.Context, _ *hooks.Client, m *packets.Publish) (hooks.PublishResult, error) {
	if strings.HasPrefix(m.Topic, "operr/") {
		return hooks.PublishResult{}, errDown
	}
	return hooks.PublishResult{}, nil
}

func connectAs(t *testing.T, addr, id, user string) (*rawClient, *packets.Connack) {
	t.Helper()
	cp := v5Connect(id)
	cp.HasUsername, cp.Username = true, user
	cp.Properties.AuthMethod = "token"
	cp.Properties.Set(packets.PropAuthMethod)
	c := dialRaw(t, addr)
	return c, c.connect(cp)
}

func TestHookErrorsAreDenials(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: failing{}})
	// A failed authenticate refuses, but not as bad credentials: the
	// client should try again later, not give up.
	if _, ack := connectAs(t, tb.addr, "e-conn", "err"); ack.Reason != packets.ServerUnavailable {
		t.Fatalf("authenticate error: CONNACK %v, want 0x88 server unavailable", ack.Reason)
	}

	s, _ := connectAs(t, tb.addr, "e-sub", "ok")
	s.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{sub("err/x", 1), sub("#", 1)}})
	if ack, ok := s.next().(*packets.Suback); !ok || ack.Reasons[0] != packets.NotAuthorized || ack.Reasons[1] != packets.GrantedQoS1 {
		t.Fatalf("authorize error on subscribe: got %+v, want SUBACK [0x87 0x01]", ack)
	}

	p, _ := connectAs(t, tb.addr, "e-pub", "ok")
	p.publish(&packets.Publish{Topic: "err/x", QoS: 1, PacketID: 1, Payload: []byte("a")})
	if a := p.expectAck(packets.TypePuback, 1); a.Reason != packets.NotAuthorized {
		t.Fatalf("authorize error on publish: PUBACK %v, want 0x87", a.Reason)
	}
	for i := uint16(2); i < 4; i++ { // the error is not cached as an answer either
		p.publish(&packets.Publish{Topic: "err/x", QoS: 1, PacketID: i, Payload: []byte("a")})
		if a := p.expectAck(packets.TypePuback, i); a.Reason != packets.NotAuthorized {
			t.Fatalf("authorize error on publish %d: PUBACK %v, want 0x87", i, a.Reason)
		}
	}
	p.publish(&packets.Publish{Topic: "operr/x", QoS: 1, PacketID: 9, Payload: []byte("b")})
	if a := p.expectAck(packets.TypePuback, 9); a.Reason != packets.UnspecifiedError {
		t.Fatalf("on-publish error: PUBACK %v, want 0x80", a.Reason)
	}
	p.publish(&packets.Publish{Topic: "err/x", Payload: []byte("qos0")})
	p.publish(&packets.Publish{Topic: "operr/x", Payload: []byte("qos0")})
	p.publish(&packets.Publish{Topic: "ok/x", Payload: []byte("allowed")})
	// The subscriber to # gets the allowed message and nothing before it.
	if m := s.nextPublish(); m.Topic != "ok/x" {
		t.Fatalf("subscriber got %q on %q: a message whose hooks failed was delivered", m.Payload, m.Topic)
	}

	re := &packets.Auth{Reason: packets.ReAuthenticate}
	re.Properties.AuthMethod = "token"
	re.Properties.Set(packets.PropAuthMethod)
	p.send(re)
	// The plugin failed: not the credentials' fault, and 0x88 cannot go on
	// a DISCONNECT: 0x89 Server busy.
	p.expectDisconnect(packets.ServerBusy)
}

func TestHookFailurePolicyOpensWhereConfigured(t *testing.T) {
	open := hooks.Failure{AuthFailOpen: true} // messages fail open too
	tb := startBroker(t, broker.Options{Hooks: failing{}, HookFailure: &open, AllowAnonymous: true})
	// A failed authenticate passes, and AllowAnonymous admits the client
	// (one without an authentication method: no hook accepted that).
	cp := v5Connect("o-conn")
	cp.HasUsername, cp.Username = true, "err"
	if ack := dialRaw(t, tb.addr).connect(cp); ack.Reason != packets.Success {
		t.Fatalf("fail-open authenticate: CONNACK %v, want success", ack.Reason)
	}
	s, _ := connectAs(t, tb.addr, "o-sub", "ok")
	s.subscribe(1, sub("err/x", 1), sub("operr/x", 1))
	p, _ := connectAs(t, tb.addr, "o-pub", "ok")
	for i, topic := range []string{"err/x", "operr/x"} {
		id := uint16(i + 1)
		p.publish(&packets.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte(topic)})
		if m := s.nextPublish(); m.Topic != topic {
			t.Fatalf("fail-open: got %q, want %q delivered", m.Topic, topic)
		} else {
			s.ack(packets.TypePuback, m.PacketID)
		}
		if a := p.expectAck(packets.TypePuback, id); a.Reason != packets.Success {
			t.Fatalf("fail-open %s: PUBACK %v, want success", topic, a.Reason)
		}
	}
	// A failed re-authentication passes too, and a pass is no allow.
	re := &packets.Auth{Reason: packets.ReAuthenticate}
	re.Properties.AuthMethod = "token"
	re.Properties.Set(packets.PropAuthMethod)
	p.send(re)
	p.expectDisconnect(packets.NotAuthorized)
}

// A Hooks that fails on every message writes a bounded number of warnings,
// and the lines with their suppressed counts account for every failure.
func TestHookFailureWarningsAreRateLimited(t *testing.T) {
	logs := &logBuffer{}
	tb := startBrokerNoCleanup(t, broker.Options{Hooks: failing{}, Log: zerolog.New(logs).Level(zerolog.WarnLevel)})
	c, _ := connectRaw(t, tb.addr, v5Connect("hook-flood"))
	const n = 500
	for i := range n {
		c.publish(&packets.Publish{Topic: "err/x", QoS: 1, PacketID: uint16(i + 1)})
		c.expectAck(packets.TypePuback, uint16(i+1))
	}
	tb.shutdown(t) // writes the counts still held back
	lines := logs.find("hook call failed")
	var accounted uint64
	for _, e := range lines {
		if _, failure := e["error"]; failure {
			accounted++ // a line for one failure; a report line only carries a count
		}
		if s, ok := e["suppressed"].(float64); ok {
			accounted += uint64(s)
		}
	}
	if len(lines) > 10 {
		t.Errorf("%d warnings for %d failures in a moment: not rate-limited", len(lines), n)
	}
	if accounted != n {
		t.Errorf("lines and suppressed counts account for %d failures, want %d", accounted, n)
	}
}

// A plugin chain's failures are counted in Stats (and on $SYS).
func TestPluginChainFailuresAreCounted(t *testing.T) {
	chain := hooks.NewChain(zerolog.Nop(), hooks.Link{Name: "failing", Hooks: failing{}})
	tb := startBroker(t, broker.Options{Hooks: chain})
	if n := tb.Stats().PluginErrors; n != 0 {
		t.Fatalf("PluginErrors = %d before any call", n)
	}
	c, _ := connectRaw(t, tb.addr, v5Connect("chain-fails"))
	for i := range 3 {
		c.publish(&packets.Publish{Topic: "err/x", QoS: 1, PacketID: uint16(i + 1)})
		if a := c.expectAck(packets.TypePuback, uint16(i+1)); !a.Reason.IsError() {
			t.Fatalf("publish %d allowed by a failing chain", i)
		}
	}
	if n := tb.Stats().PluginErrors; n != 3 {
		t.Fatalf("PluginErrors = %d after three failed authorize calls, want 3", n)
	}
}
