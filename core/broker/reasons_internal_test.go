package broker

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
)

// A refused re-authentication ends with a DISCONNECT whose reason code a
// DISCONNECT may carry: a hook's CONNACK-only codes are mapped, others kept.
func TestDisconnectReasonFitsDisconnect(t *testing.T) {
	for in, want := range map[packets.ReasonCode]packets.ReasonCode{
		0:                               packets.NotAuthorized,
		packets.NotAuthorized:           packets.NotAuthorized,
		packets.BadUserNameOrPassword:   packets.NotAuthorized, // 0x86: CONNACK only
		packets.ServerUnavailable:       packets.ServerBusy,    // 0x88: CONNACK only
		packets.QuotaExceeded:           packets.QuotaExceeded,
		packets.BadAuthenticationMethod: packets.NotAuthorized, // 0x8C: not on DISCONNECT either
	} {
		got := disconnectReason(in)
		if got != want || !got.ValidFor(packets.TypeDisconnect) {
			t.Errorf("disconnectReason(%#x) = %#x, want %#x", byte(in), byte(got), byte(want))
		}
	}
}

// The same mapping fits a hook's answer to a PUBACK.
func TestNearestReasonForAnAcknowledgement(t *testing.T) {
	for in, want := range map[packets.ReasonCode]packets.ReasonCode{
		packets.QuotaExceeded:         packets.QuotaExceeded,
		packets.MessageRateTooHigh:    packets.QuotaExceeded,    // DISCONNECT only
		packets.BadUserNameOrPassword: packets.NotAuthorized,    // CONNACK only
		packets.ServerUnavailable:     packets.UnspecifiedError, // 0x89 is no PUBACK code either
		packets.Banned:                packets.UnspecifiedError,
	} {
		if got := nearestReason(packets.TypePuback, in, packets.UnspecifiedError); got != want {
			t.Errorf("nearestReason(PUBACK, %#x) = %#x, want %#x", byte(in), byte(got), byte(want))
		}
	}
}
