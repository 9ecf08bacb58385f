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

// The file's broker section is broker.Options itself: what it says reaches
// the broker as written, and the rules are the broker's (a negative
// sys_interval, which the broker reads as "no $SYS", is accepted).
func TestBrokerSectionIsTheBrokersOptions(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("sys_interval: -1s\nlimits:\n  max_qos: 1\n  retain_available: false\n  max_partial_packet_bytes: 1MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := brokerOptions(cfg, zerolog.Nop(), true)
	if o.SysInterval >= 0 || *o.Limits.MaxQoS != 1 || *o.Limits.RetainAvailable || o.Limits.MaxPartialPacketBytes != 1<<20 || !o.AllowAnonymous {
		t.Fatalf("broker options %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("the broker refuses what the file accepted: %v", err)
	}
}
