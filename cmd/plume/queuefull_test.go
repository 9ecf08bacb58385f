package main

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
)

func TestQueueFullPolicyReachesTheBroker(t *testing.T) {
	for text, want := range map[string]broker.QueueFullPolicy{
		"":                                      broker.QueueFullDrop,
		"limits:\n  queue_full: drop\n":         broker.QueueFullDrop,
		"limits:\n  queue_full: backpressure\n": broker.QueueFullBackpressure,
	} {
		cfg, err := config.Parse(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := brokerOptions(cfg, zerolog.Nop(), nil).Limits.QueueFull; got != want {
			t.Errorf("%q: broker got %v, want %v", text, got, want)
		}
	}
}
