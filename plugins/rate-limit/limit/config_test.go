package limit

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{
		"per_client": {"messages_per_second": 10, "burst": 20, "bytes_per_second": 10000},
		"per_attribute": {"tenant": {"messages_per_second": 0.5}},
		"connects_per_client_per_minute": 6}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.PerClient.Messages; m.Interval != int64(100*time.Millisecond) || m.Burst != 20 {
		t.Errorf("per_client messages = %+v", m)
	}
	if b := c.PerClient.Bytes; b.Interval != int64(100*time.Microsecond) || b.Burst != 10000 {
		t.Errorf("per_client bytes = %+v, want the burst to default to a second's worth", b)
	}
	if m := c.PerAttribute["tenant"].Messages; m.Interval != int64(2*time.Second) || m.Burst != 1 {
		t.Errorf("tenant messages = %+v, want one every 2 s, burst 1", m)
	}
	if r := ConnectRate(c.ConnectsPerClientPerMinute); r.Interval != int64(10*time.Second) || r.Burst != 6 {
		t.Errorf("connect rate = %+v", r)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{``, "no config"},
		{`[]`, "config: want an object"},
		{`{}`, "no limit set"},
		{`{"per_clients": {}}`, "per_clients: unknown key"},
		{`{"per_client": 5}`, "per_client: want an object"},
		{`{"per_client": {}}`, "per_client: give messages_per_second or bytes_per_second"},
		{`{"per_client": {"messages_per_second": -1}}`, "per_client.messages_per_second: must be above 0"},
		{`{"per_client": {"messages_per_second": "10"}}`, "per_client.messages_per_second: want a number"},
		{`{"per_client": {"messages_per_second": 1, "brust": 2}}`, "per_client.brust: unknown key"},
		{`{"per_client": {"bytes_per_second": 10, "burst": 2}}`, "per_client.burst: needs messages_per_second"},
		{`{"per_client": {"messages_per_second": 1, "bytes_burst": 2}}`, "per_client.bytes_burst: needs bytes_per_second"},
		{`{"per_client": {"messages_per_second": 1, "burst": 2.5}}`, "per_client.burst: want a whole number"},
		{`{"per_attribute": {"tenant": {"burst": 2}}}`, "per_attribute.tenant: give messages_per_second"},
		{`{"per_attribute": {"": {"messages_per_second": 2}}}`, "per_attribute: an attribute name is empty"},
		{`{"connects_per_client_per_minute": 0}`, "connects_per_client_per_minute: must be above 0"},
		{`{"connects_per_address_per_minute": 1.5}`, "connects_per_address_per_minute: want a whole number"},
	} {
		_, err := ParseConfig([]byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.want)
		}
	}
}
