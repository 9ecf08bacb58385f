package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// scripted is a hook whose answers are set by the test.
type scripted struct {
	hooks.Base
	points    hooks.Point
	auth      hooks.AuthResult
	authz     hooks.AuthzResult
	pub       hooks.PublishResult
	err       error
	transform func(*packets.Publish)
	calls     int
}

func (s *scripted) Provides(p hooks.Point) bool { return s.points&p != 0 }
func (s *scripted) Authenticate(context.Context, *hooks.AuthRequest) (hooks.AuthResult, error) {
	s.calls++
	return s.auth, s.err
}
func (s *scripted) Authorize(context.Context, *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	s.calls++
	return s.authz, s.err
}
func (s *scripted) OnPublish(context.Context, *hooks.Client, *packets.Publish) (hooks.PublishResult, error) {
	s.calls++
	return s.pub, s.err
}
func (s *scripted) Transform(_ context.Context, _ *hooks.Client, m *packets.Publish) error {
	s.calls++
	if s.transform != nil {
		s.transform(m)
	}
	return s.err
}

func chain(links ...hooks.Link) *hooks.Chain { return hooks.NewChain(zerolog.Nop(), links...) }

func TestAuthenticateFirstDecisionWins(t *testing.T) {
	pass := &scripted{points: hooks.PointAuthenticate}
	deny := &scripted{points: hooks.PointAuthenticate, auth: hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword}}
	never := &scripted{points: hooks.PointAuthenticate, auth: hooks.AuthResult{Verdict: hooks.Allow}}
	c := chain(hooks.Link{Name: "pass", Hooks: pass}, hooks.Link{Name: "deny", Hooks: deny}, hooks.Link{Name: "allow", Hooks: never})
	res, err := c.Authenticate(context.Background(), &hooks.AuthRequest{Client: &hooks.Client{}})
	if err != nil || res.Verdict != hooks.Deny || res.Reason != packets.BadUserNameOrPassword {
		t.Fatalf("got %+v, %v; want the second link's deny", res, err)
	}
	if pass.calls != 1 || never.calls != 0 {
		t.Errorf("calls: pass=%d allow-after-deny=%d", pass.calls, never.calls)
	}
}

func TestFailingAuthLinkFailsClosedByDefaultAndOpenWhenConfigured(t *testing.T) {
	broken := &scripted{points: hooks.PointAuthorize, err: errors.New("trap")}
	allow := &scripted{points: hooks.PointAuthorize, authz: hooks.AuthzResult{Verdict: hooks.Allow}}
	closed := chain(hooks.Link{Name: "broken", Hooks: broken}, hooks.Link{Name: "allow", Hooks: allow})
	res, _ := closed.Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{}})
	if res.Verdict != hooks.Deny {
		t.Errorf("fail-closed chain: verdict %v, want deny", res.Verdict)
	}
	open := chain(hooks.Link{Name: "broken", Hooks: broken, OnError: hooks.Failure{AuthFailOpen: true}}, hooks.Link{Name: "allow", Hooks: allow})
	res, _ = open.Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{}})
	if res.Verdict != hooks.Allow {
		t.Errorf("fail-open chain: verdict %v, want the next link's allow", res.Verdict)
	}
	if open.Errors() != 1 || closed.Errors() != 1 {
		t.Errorf("errors counted: %d, %d", closed.Errors(), open.Errors())
	}
}

func TestAuthorizeKeepsTheLowestQoSCap(t *testing.T) {
	cap1 := &scripted{points: hooks.PointAuthorize, authz: hooks.AuthzResult{LowerQoS: true, QoS: 1}}
	cap0 := &scripted{points: hooks.PointAuthorize, authz: hooks.AuthzResult{Verdict: hooks.Allow, LowerQoS: true, QoS: 0}}
	res, _ := chain(hooks.Link{Hooks: cap1}, hooks.Link{Hooks: cap0}).Authorize(context.Background(), &hooks.AuthzRequest{})
	if res.Verdict != hooks.Allow || !res.LowerQoS || res.QoS != 0 {
		t.Errorf("got %+v", res)
	}
}

func TestOnPublishStopsAtTheFirstDrop(t *testing.T) {
	drop := &scripted{points: hooks.PointOnPublish, pub: hooks.PublishResult{Action: hooks.Drop}}
	after := &scripted{points: hooks.PointOnPublish}
	res, _ := chain(hooks.Link{Hooks: drop}, hooks.Link{Hooks: after}).OnPublish(context.Background(), &hooks.Client{}, &packets.Publish{})
	if res.Action != hooks.Drop || after.calls != 0 {
		t.Errorf("action %v, later link called %d times", res.Action, after.calls)
	}
}

func TestTransformsFeedEachOtherAndAFailureRollsBackItsLink(t *testing.T) {
	upper := &scripted{points: hooks.PointTransform, transform: func(m *packets.Publish) { m.Payload = []byte("A") }}
	broken := &scripted{points: hooks.PointTransform, err: errors.New("trap"), transform: func(m *packets.Publish) { m.Payload = []byte("garbage") }}
	suffix := &scripted{points: hooks.PointTransform, transform: func(m *packets.Publish) { m.Payload = append(append([]byte(nil), m.Payload...), 'B') }}
	m := &packets.Publish{Payload: []byte("x")}
	if err := chain(hooks.Link{Hooks: upper}, hooks.Link{Hooks: broken}, hooks.Link{Hooks: suffix}).Transform(context.Background(), &hooks.Client{}, m); err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "AB" {
		t.Errorf("payload %q, want AB", m.Payload)
	}
	m = &packets.Publish{Payload: []byte("x")}
	err := chain(hooks.Link{Hooks: broken, OnError: hooks.Failure{MessageFailClosed: true}}).Transform(context.Background(), &hooks.Client{}, m)
	if !errors.Is(err, hooks.ErrDropped) {
		t.Errorf("fail-closed transform: err %v, want ErrDropped", err)
	}
}

func TestProvidesIsTheUnionAndSwapReplacesIt(t *testing.T) {
	c := chain(hooks.Link{Hooks: &scripted{points: hooks.PointAuthorize}})
	if !c.Provides(hooks.PointAuthorize) || c.Provides(hooks.PointTransform) {
		t.Fatal("provides before swap")
	}
	c.Swap([]hooks.Link{{Hooks: &scripted{points: hooks.PointTransform}}})
	if c.Provides(hooks.PointAuthorize) || !c.Provides(hooks.PointTransform) {
		t.Fatal("provides after swap")
	}
	if c.Swap(nil); c.Provides(hooks.PointTransform) {
		t.Fatal("empty chain provides something")
	}
}

func TestAuthContinueGoesBackToTheLinkThatContinued(t *testing.T) {
	passer := &scripted{points: hooks.PointAuthenticate}
	scram := &scripted{points: hooks.PointAuthenticate, auth: hooks.AuthResult{Continue: true}}
	c := chain(hooks.Link{Name: "passer", Hooks: passer}, hooks.Link{Name: "scram", Hooks: scram})
	client := &hooks.Client{ID: "c"}
	res, _ := c.Authenticate(context.Background(), &hooks.AuthRequest{Client: client, Step: hooks.AuthConnect, Method: "SCRAM"})
	if !res.Continue || passer.calls != 1 {
		t.Fatalf("first step: %+v, passer calls %d", res, passer.calls)
	}
	passer.auth = hooks.AuthResult{Verdict: hooks.Deny} // would wrongly decide step two
	scram.auth = hooks.AuthResult{Verdict: hooks.Allow}
	res, _ = c.Authenticate(context.Background(), &hooks.AuthRequest{Client: client, Step: hooks.AuthContinue, Method: "SCRAM"})
	if res.Verdict != hooks.Allow || scram.calls != 2 || passer.calls != 1 {
		t.Errorf("second step: %+v, scram calls %d, passer calls %d", res, scram.calls, passer.calls)
	}
}

func TestAuthorizeIsCacheableOnlyWhenEveryConsultedLinkSaysSo(t *testing.T) {
	cachedPass := &scripted{points: hooks.PointAuthorize, authz: hooks.AuthzResult{Cache: true}}
	cachedAllow := &scripted{points: hooks.PointAuthorize, authz: hooks.AuthzResult{Verdict: hooks.Allow, Cache: true}}
	plainPass := &scripted{points: hooks.PointAuthorize}
	req := &hooks.AuthzRequest{Client: &hooks.Client{}}
	if res, _ := chain(hooks.Link{Hooks: cachedPass}, hooks.Link{Hooks: cachedAllow}).Authorize(context.Background(), req); !res.Cache {
		t.Errorf("every link cacheable: %+v", res)
	}
	if res, _ := chain(hooks.Link{Hooks: plainPass}, hooks.Link{Hooks: cachedAllow}).Authorize(context.Background(), req); res.Cache {
		t.Errorf("a link that did not say cacheable was consulted: %+v", res)
	}
	c := chain(hooks.Link{Hooks: cachedAllow})
	g := c.Generation()
	c.Swap([]hooks.Link{{Hooks: cachedAllow}})
	if c.Generation() == g {
		t.Error("Swap did not change the generation")
	}
}

// A plugin that fails every call writes a bounded number of warnings, and
// every failure is counted.
func TestFailingLinkWarningsAreRateLimited(t *testing.T) {
	var buf lockedBuffer
	broken := &scripted{points: hooks.PointAuthorize, err: errors.New("trap")}
	c := hooks.NewChain(zerolog.New(&buf), hooks.Link{Name: "broken", Hooks: broken})
	const n = 1000
	for range n {
		_, _ = c.Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{}})
	}
	if c.Errors() != n {
		t.Errorf("%d failures counted, want %d", c.Errors(), n)
	}
	if lines := buf.count("plugin call failed"); lines < 1 || lines > 5 {
		t.Errorf("%d warning lines for %d failures in a moment, want one or a few", lines, n)
	}
}

// lockedBuffer is a log sink that the rate limiter's report timer may write
// to while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Count(b.buf.Bytes(), []byte(s))
}
