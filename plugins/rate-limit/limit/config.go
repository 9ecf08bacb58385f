package limit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Config is the plugin's config, the JSON of its chain entry's `config:`.
// Every limit is optional; a zero limit is no limit.
type Config struct {
	// PerClient limits each client id's messages and bytes.
	PerClient Limits
	// PerAttribute limits, for each attribute key (tenant, group), the
	// messages and bytes of all clients with the same value together.
	// Attributes are those an authenticate plugin attached to the client.
	PerAttribute map[string]Limits
	// ConnectsPerClientPerMinute limits connection attempts per client id
	// (a burst of as many, refilled evenly over the minute).
	ConnectsPerClientPerMinute int64
	// ConnectsPerAddressPerMinute limits them per remote IP address.
	ConnectsPerAddressPerMinute int64
}

// Limits are the token buckets of one scope.
type Limits struct {
	Messages Rate // messages_per_second, burst
	Bytes    Rate // bytes_per_second, bytes_burst
}

// Rate is a token bucket as GCRA sees it: one unit every Interval
// nanoseconds, and up to Burst units at once. A zero Interval is no limit.
type Rate struct {
	Interval int64
	Burst    int64
	// PerSecond is the configured rate, for messages.
	PerSecond float64
}

// On reports whether the rate limits anything.
func (r Rate) On() bool { return r.Interval > 0 }

// Active reports whether the config limits anything at all.
func (c *Config) Active() bool {
	return c.PerClient.Messages.On() || c.PerClient.Bytes.On() || len(c.PerAttribute) > 0 ||
		c.ConnectsPerClientPerMinute > 0 || c.ConnectsPerAddressPerMinute > 0
}

// ParseConfig reads and checks the plugin's config. Errors name the key, as
// the user wrote it: "per_client.burst: ...".
func ParseConfig(b []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("no config: give at least one limit (per_client, per_attribute, connects_per_client_per_minute, connects_per_address_per_minute)")
	}
	top, err := object(b, "config")
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "per_client":
			if c.PerClient, err = parseLimits(v, k); err != nil {
				return nil, err
			}
		case "per_attribute":
			attrs, err := object(v, k)
			if err != nil {
				return nil, err
			}
			c.PerAttribute = map[string]Limits{}
			for _, a := range sortedKeys(attrs) {
				if a == "" {
					return nil, fmt.Errorf("%s: an attribute name is empty", k)
				}
				if c.PerAttribute[a], err = parseLimits(attrs[a], k+"."+a); err != nil {
					return nil, err
				}
			}
		case "connects_per_client_per_minute":
			if c.ConnectsPerClientPerMinute, err = count(v, k); err != nil {
				return nil, err
			}
		case "connects_per_address_per_minute":
			if c.ConnectsPerAddressPerMinute, err = count(v, k); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: unknown key (known: per_client, per_attribute, connects_per_client_per_minute, connects_per_address_per_minute)", k)
		}
	}
	if !c.Active() {
		return nil, errors.New("config: no limit set: give at least one")
	}
	return c, nil
}

// ConnectRate is the bucket of n connection attempts a minute.
func ConnectRate(n int64) Rate {
	if n <= 0 {
		return Rate{}
	}
	return Rate{Interval: int64(time.Minute) / n, Burst: n, PerSecond: float64(n) / 60}
}

func parseLimits(b []byte, path string) (Limits, error) {
	var l Limits
	obj, err := object(b, path)
	if err != nil {
		return l, err
	}
	var msgs, bytesPS float64
	var burst, bytesBurst int64
	for _, k := range sortedKeys(obj) {
		v, key := obj[k], path+"."+k
		switch k {
		case "messages_per_second":
			msgs, err = positive(v, key)
		case "bytes_per_second":
			var n int64
			n, err = count(v, key)
			bytesPS = float64(n)
		case "burst":
			burst, err = count(v, key)
		case "bytes_burst":
			bytesBurst, err = count(v, key)
		default:
			err = fmt.Errorf("%s: unknown key (known: messages_per_second, burst, bytes_per_second, bytes_burst)", key)
		}
		if err != nil {
			return l, err
		}
	}
	switch {
	case msgs == 0 && bytesPS == 0:
		return l, fmt.Errorf("%s: give messages_per_second or bytes_per_second", path)
	case burst != 0 && msgs == 0:
		return l, fmt.Errorf("%s.burst: needs messages_per_second", path)
	case bytesBurst != 0 && bytesPS == 0:
		return l, fmt.Errorf("%s.bytes_burst: needs bytes_per_second", path)
	}
	if msgs > 0 {
		if burst == 0 {
			burst = max(1, int64(math.Ceil(msgs))) // a second's worth
		}
		l.Messages = Rate{Interval: int64(float64(time.Second) / msgs), Burst: burst, PerSecond: msgs}
		if l.Messages.Interval <= 0 {
			return l, fmt.Errorf("%s.messages_per_second: at most 1e9", path)
		}
	}
	if bytesPS > 0 {
		if bytesBurst == 0 {
			bytesBurst = int64(bytesPS)
		}
		l.Bytes = Rate{Interval: int64(float64(time.Second) / bytesPS), Burst: bytesBurst, PerSecond: bytesPS}
		if l.Bytes.Interval <= 0 {
			return l, fmt.Errorf("%s.bytes_per_second: at most 1e9", path)
		}
		// The bucket's depth in nanoseconds must fit an int64 with room to
		// add a message's cost: 2^62 ns is 146 years.
		if l.Bytes.Burst > (1<<62)/l.Bytes.Interval {
			return l, fmt.Errorf("%s.bytes_burst: too large for bytes_per_second", path)
		}
	}
	if l.Messages.On() && l.Messages.Burst > (1<<62)/l.Messages.Interval {
		return l, fmt.Errorf("%s.burst: too large for messages_per_second", path)
	}
	return l, nil
}

func object(b []byte, path string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s: want an object", path)
	}
	return m, nil
}

func positive(b []byte, key string) (float64, error) {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, fmt.Errorf("%s: want a number", key)
	}
	if f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%s: must be above 0", key)
	}
	return f, nil
}

func count(b []byte, key string) (int64, error) {
	f, err := positive(b, key)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f > 1<<53 {
		return 0, fmt.Errorf("%s: want a whole number", key)
	}
	return int64(f), nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
