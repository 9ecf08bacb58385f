package packets

import "testing"

func TestV3ConnackCodeRoundTrips(t *testing.T) {
	tests := []struct {
		reason ReasonCode
		want   byte
	}{
		{Success, 0},
		{UnsupportedProtocolVersion, 1},
		{ClientIdentifierNotValid, 2},
		{ServerUnavailable, 3},
		{BadUserNameOrPassword, 4},
		{NotAuthorized, 5},
		{ServerBusy, 3},
		{Banned, 5},
		{BadAuthenticationMethod, 4},
		{UnspecifiedError, 3},
		{QuotaExceeded, 3},
	}
	for _, tt := range tests {
		if got := tt.reason.V3ConnackCode(); got != tt.want {
			t.Errorf("%v: got %d, want %d", tt.reason, got, tt.want)
		}
	}
	// Each 3.1.1 return code decodes to a reason that maps back to it.
	for code, r := range v3ConnackReasons {
		if got := r.V3ConnackCode(); int(got) != code {
			t.Errorf("return code %d decodes to %v, which maps to %d", code, r, got)
		}
	}
}

func TestReasonCodeNames(t *testing.T) {
	tests := []struct {
		r    ReasonCode
		want string
		err  bool
	}{
		{Success, "success", false},
		{GrantedQoS2, "granted QoS 2", false},
		{NoMatchingSubscribers, "no matching subscribers", false},
		{MalformedPacket, "malformed packet", true},
		{WildcardSubscriptionsNotSupported, "wildcard subscriptions not supported", true},
		{ReasonCode(0x7F), "reason 0x7f", false},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("0x%02X: got %q, want %q", byte(tt.r), got, tt.want)
		}
		if tt.r.IsError() != tt.err {
			t.Errorf("%v: IsError %v", tt.r, !tt.err)
		}
	}
}

func TestTypeNames(t *testing.T) {
	want := []string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
		"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}
	for i, w := range want {
		if got := Type(i).String(); got != w {
			t.Errorf("Type(%d): got %q, want %q", i, got, w)
		}
	}
	if got := Type(16).String(); got != "UNKNOWN" {
		t.Errorf("Type(16): got %q", got)
	}
}

func TestReasonValidFor(t *testing.T) {
	tests := []struct {
		r    ReasonCode
		t    Type
		want bool
	}{
		{Success, TypePubrel, true},
		{PacketIdentifierNotFound, TypePubcomp, true},
		{NoMatchingSubscribers, TypePubrec, true},
		{NoMatchingSubscribers, TypePubrel, false},
		{DisconnectWithWill, TypeDisconnect, true},
		{DisconnectWithWill, TypeConnack, false},
		{ReAuthenticate, TypeAuth, true},
		{GrantedQoS2, TypeSuback, true},
		{GrantedQoS2, TypeUnsuback, false},
		{UnsupportedProtocolVersion, TypeConnack, true},
		{UnsupportedProtocolVersion, TypeDisconnect, false},
	}
	for _, tt := range tests {
		if got := tt.r.ValidFor(tt.t); got != tt.want {
			t.Errorf("%v in %v: got %v", tt.r, tt.t, got)
		}
	}
}
