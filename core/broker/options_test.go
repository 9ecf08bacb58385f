package broker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/setting"
)

// The broker owns its rules: New refuses what it cannot run with, naming the
// key as plume.yaml spells it, whether the options came from a file or not.
func TestNewRefusesOptionsItCannotRunWith(t *testing.T) {
	three := byte(3)
	for _, tc := range []struct {
		name string
		opts Options
		key  string
	}{
		{"negative packet read timeout", Options{Limits: Limits{PacketReadTimeout: -time.Second}}, "limits.packet_read_timeout"},
		{"negative connect timeout", Options{Limits: Limits{ConnectTimeout: -time.Second}}, "limits.connect_timeout"},
		{"negative write timeout", Options{Limits: Limits{WriteTimeout: -time.Second}}, "limits.write_timeout"},
		{"negative partial budget", Options{Limits: Limits{MaxPartialPacketBytes: -1}}, "limits.max_partial_packet_bytes"},
		{"qos 3", Options{Limits: Limits{MaxQoS: &three}}, "limits.max_qos"},
		{"total below one session", Options{Limits: Limits{MaxQueuedBytes: 64 << 20, MaxQueuedBytesTotal: 1 << 20}}, "limits.max_queued_bytes_total"},
		{"unknown owner policy", Options{SessionOwnerMismatch: 7}, "session_owner_mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Log = zerolog.Nop()
			b, err := New(tc.opts)
			if err == nil {
				_ = b.Shutdown(t.Context())
				t.Fatal("New accepted them")
			}
			var e *setting.Error
			if !errors.As(err, &e) || e.Key != tc.key {
				t.Fatalf("New: %v; want a setting.Error for %s", err, tc.key)
			}
		})
	}
}

// Negative values that the options document as "none" or "never" are valid.
func TestNegativeMeansNoneWhereDocumented(t *testing.T) {
	o := Options{SysInterval: -1, ParkIdleAfter: -1, Limits: Limits{
		DrainAfterDisconnect: -1, SlowConsumerTimeout: -1, MaxQueuedBytes: -1, MaxQueuedBytesTotal: -1}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOwnerMismatchReadsItsName(t *testing.T) {
	var m OwnerMismatch
	if err := m.UnmarshalText([]byte("fresh")); err != nil || m != OwnerMismatchFresh {
		t.Fatalf("fresh: %v, %v", m, err)
	}
	if err := m.UnmarshalText([]byte("steal")); err == nil || !strings.Contains(err.Error(), "refuse or fresh") {
		t.Fatalf("steal: %v", err)
	}
}
