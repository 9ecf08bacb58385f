// Command rate-limit is Plume's standard rate-limit plugin: token buckets on
// messages and bytes per client and per client attribute, and on connection
// attempts per client id and per address, shared by all the plugin's
// instances through its key-value store. See README.md; the logic is in
// package limit.
package main

import (
	"encoding/binary"
	"fmt"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/rate-limit/limit"
)

func main() {}

func init() { plume.OnInit(setup) }

var (
	lim *limit.Limiter
	// buckets caches each connection's bucket list by client handle: it
	// depends only on the client id and attributes, which do not change
	// while the client stays connected, and saves two host calls and the
	// key strings per message. Instances get no disconnect of their own
	// (one instance is told), so the cache is simply cleared when large.
	buckets = map[uint64][]limit.Bucket{}
)

const maxCached = 4096

func setup(config []byte) error {
	cfg, err := limit.ParseConfig(config)
	if err != nil {
		return fmt.Errorf("rate-limit: %w", err)
	}
	lim = limit.New(cfg, kvStore{}, func(lv limit.Level, msg string) { plume.Log(plume.Level(lv), msg) })
	if cfg.ConnectsPerClientPerMinute > 0 || cfg.ConnectsPerAddressPerMinute > 0 {
		plume.OnAuthenticate(authenticate)
	}
	if cfg.PerClient.Messages.On() || cfg.PerClient.Bytes.On() || len(cfg.PerAttribute) > 0 {
		plume.OnPublish(publish)
	}
	return nil
}

// authenticate charges each CONNECT (not the AUTH steps of one) and passes:
// put this plugin before the plugins that allow, since the first allow ends
// the chain.
func authenticate(e *plume.AuthEvent) plume.Decision {
	if e.Step != plume.StepConnect {
		return plume.Pass()
	}
	d := lim.Connect(e.Client.ID(), e.Client.RemoteAddr(), plume.Now().UnixNano())
	if d.Kind != limit.None {
		return plume.Deny(plume.ConnectionRateExceeded, d.Reason)
	}
	return plume.Pass()
}

// publish charges each message. Over a limit the message is refused with
// 0x97 Quota exceeded: a 5.0 publisher sees it on PUBACK/PUBREC (0x96
// Message rate too high is valid only on DISCONNECT), and the broker
// disconnects a 3.1.1 publisher, which has no way to be told.
func publish(m *plume.Message) plume.PublishDecision {
	h := m.Client.Handle()
	bs, ok := buckets[h]
	if !ok {
		if len(buckets) >= maxCached {
			clear(buckets)
		}
		bs = lim.Buckets(m.Client.ID(), m.Client.Attribute)
		buckets[h] = bs
	}
	d := lim.Publish(bs, int64(m.PayloadSize()), plume.Now().UnixNano())
	if d.Kind != limit.None {
		return plume.Reject(plume.QuotaExceeded, d.Reason)
	}
	return plume.Deliver()
}

// kvStore is limit.Store on the host's key-value store.
type kvStore struct{}

func (kvStore) Add(key string, delta int64) int64 { return plume.KVAdd(key, delta) }

func (kvStore) Get(key string) (int64, bool) {
	b, ok := plume.KVGet(key)
	if !ok || len(b) != 8 {
		return 0, ok
	}
	return int64(binary.LittleEndian.Uint64(b)), true
}

func (kvStore) Set(key string, v int64) bool {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return plume.KVSet(key, b[:])
}

func (kvStore) GetString(key string) (string, bool) {
	b, ok := plume.KVGet(key)
	return string(b), ok
}

func (kvStore) SetString(key, v string) bool { return plume.KVSet(key, []byte(v)) }

func (kvStore) Delete(key string) { plume.KVDelete(key) }
