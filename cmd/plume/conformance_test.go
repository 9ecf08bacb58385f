package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/conformance"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// conformancePolicy gives the suite the broker-specific set-ups it asks for:
// a denied topic, a refused client id and a user whose wrong password is refused.
type conformancePolicy struct{ hooks.Base }

func (conformancePolicy) Provides(p hooks.Point) bool {
	return p == hooks.PointAuthenticate || p == hooks.PointAuthorize
}

func (conformancePolicy) Authenticate(_ context.Context, r *hooks.AuthRequest) (hooks.AuthResult, error) {
	switch {
	case r.Client.ID == "refused-client":
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.ClientIdentifierNotValid}, nil
	case r.Client.Username == "refused-user" && string(r.Client.Password()) != "right":
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword}, nil
	}
	return hooks.AuthResult{}, nil // pass: anonymous clients are allowed
}

func (conformancePolicy) Authorize(_ context.Context, r *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	if r.Topic == "denied" || strings.HasPrefix(r.Topic, "denied/") {
		return hooks.AuthzResult{Verdict: hooks.Deny}, nil
	}
	return hooks.AuthzResult{}, nil
}

// TestPlumePassesTheConformanceSuite runs the whole suite, both versions,
// against an in-process Plume. Every failure is a broker bug (or a suite bug
// to be fixed in conformance/), never something to skip.
func TestPlumePassesTheConformanceSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes a while; run without -short")
	}
	b, err := broker.New(broker.Options{
		Log: zerolog.Nop(), AllowAnonymous: true, Hooks: conformancePolicy{},
		Limits: broker.Limits{OutboundTopicAliases: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(l, "conformance") }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results := conformance.Run(ctx, conformance.Options{
		Broker:            "tcp://" + l.Addr().String(),
		DeniedTopic:       "denied/topic",
		RefusedClientID:   "refused-client",
		RefusedUsername:   "refused-user",
		SendsTopicAliases: true,
		ServerKeepAlive:   -1,
	}, nil)
	var passed, skipped int
	for _, r := range results {
		switch r.Status {
		case conformance.Fail:
			t.Errorf("%s (MQTT %d) %s: %s", r.Statement, r.Version, r.Test, r.Detail)
		case conformance.Pass:
			passed++
		default:
			skipped++
		}
	}
	t.Logf("%d passed, %d skipped", passed, skipped)
	if passed < 300 {
		t.Errorf("only %d statements passed: the suite did not run", passed)
	}
}
