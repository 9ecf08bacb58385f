package main

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
)

func TestSessionOwnerMismatchReachesTheBroker(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("session_owner_mismatch: fresh\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := brokerOptions(cfg, zerolog.Nop(), false); o.SessionOwnerMismatch != broker.OwnerMismatchFresh {
		t.Fatalf("broker got %v, want fresh", o.SessionOwnerMismatch)
	}
}
