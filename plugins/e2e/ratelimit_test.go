package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
)

const rateLimitDir = repoRoot + "/plugins/rate-limit"

func rateLimit(t testing.TB) string { return plugintest.BuildGo(t, rateLimitDir, ".") }

// Rates so slow that nothing refills while a test runs, however loaded the
// machine: each verdict depends on counts alone.
const rateLimitConfig = `{
	"per_client": {"messages_per_second": 0.001, "burst": 3},
	"per_attribute": {"role": {"bytes_per_second": 1, "bytes_burst": 100}},
	"connects_per_client_per_minute": 2}`

// The buckets live in the plugin's key-value store, not in an instance:
// calls spread over a pool of four instances at once still allow exactly
// the burst.
func TestRateLimitBucketsSharedAcrossInstances(t *testing.T) {
	p := plugintest.Load(t, rateLimit(t), plugintest.Options{Config: []byte(rateLimitConfig), PoolSize: 4})
	if !p.Provides(hooks.PointOnPublish) || !p.Provides(hooks.PointAuthenticate) || p.Provides(hooks.PointAuthorize) {
		t.Fatal("rate-limit should provide on-publish and authenticate only")
	}
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection each (handles differ), one client id.
			c := &hooks.Client{ID: "shared", ProtocolVersion: 5, Handle: uint64(100 + w)}
			for range 5 {
				res, err := p.OnPublish(c, &packets.Publish{Topic: "t", Payload: []byte("x")})
				switch {
				case err != nil:
					t.Error(err)
				case res.Action == hooks.Continue:
					allowed.Add(1)
				case res.Reason == packets.QuotaExceeded && strings.HasPrefix(res.ReasonString, "message rate too high"):
					refused.Add(1)
				default:
					t.Errorf("unexpected answer %+v", res)
				}
			}
		}()
	}
	wg.Wait()
	// Calls of one client are serial in the broker; here eight run at once
	// on four instances, the worst case of a bucket shared by many clients
	// (per attribute). The bucket is one counter in the shared store, so
	// the burst holds across instances, except for the documented
	// non-atomic first fill of a fresh bucket: at most one extra message
	// per instance racing it (plugins/rate-limit/limit/bucket.go). Before
	// racingCharges, refusals in flight read as a clock step and reset the
	// bucket: 6 and 9 were seen. Per-instance buckets would allow 4 x 3 = 12.
	if a, r := allowed.Load(), refused.Load(); a < 3 || a > 3+4 || a+r != 40 {
		t.Fatalf("%d allowed, %d refused; want the burst of 3 (at most 4 more from the refill race) and the rest refused", a, r)
	}
	if logs := p.Logs(); !strings.Contains(logs, `rate limited: client \"shared\" messages over 0.001 messages/s (burst 3)`) {
		t.Fatalf("no rate-limited line in the plugin's log:\n%s", logs)
	}
}

func TestRateLimitRefusesBadConfig(t *testing.T) {
	_, err := plugintest.Open(t.Context(), rateLimit(t), plugintest.Options{Config: []byte(`{"per_client": {"mesages_per_second": 1}}`)})
	if err == nil || !strings.Contains(err.Error(), "per_client.mesages_per_second: unknown key") {
		t.Fatalf("err = %v, want the key named", err)
	}
}

// startRateLimited serves a broker whose chain is rate-limit, then auth-go
// (which attaches role=admin to alice): connection limits must see the
// CONNECT before a plugin that allows it ends the chain.
func startRateLimited(t *testing.T) *env {
	t.Helper()
	cfg := host.Config{Plugins: []host.PluginConfig{
		plugin("rate-limit", rateLimit(t), rateLimitConfig),
		plugin("auth", authGo(t), authConfig(false)),
	}}
	return start(t, cfg, broker.Options{AllowAnonymous: true})
}

func TestRateLimitV5PublisherGetsQuotaExceededAndStaysConnected(t *testing.T) {
	e := startRateLimited(t)
	watch := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-watch"})
	watch.subscribe(t, "rl/#")
	pub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-pub"})
	for i := range 3 {
		if reason, why := pub.publish1(t, "rl/m", []byte(fmt.Sprint(i))); reason != 0 {
			t.Fatalf("message %d within the burst: PUBACK %#x %q", i, reason, why)
		}
	}
	reason, why := pub.publish1(t, "rl/m", []byte("over"))
	if reason != byte(packets.QuotaExceeded) || !strings.HasPrefix(why, "message rate too high: 0.001 messages/s (burst 3) per client") {
		t.Fatalf("4th message: PUBACK %#x %q, want 0x97 and the limit", reason, why)
	}
	// QoS 0 over the limit: nothing to answer, nothing delivered.
	if _, err := pub.Publish(ctxWait(t), &paho.Publish{Topic: "rl/m", Payload: []byte("over0")}); err != nil {
		t.Fatal(err)
	}
	pub.stillConnected(t)
	marker := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-marker"})
	if reason, _ := marker.publish1(t, "rl/m", []byte("end")); reason != 0 {
		t.Fatalf("another client is not limited by rl-pub's bucket: PUBACK %#x", reason)
	}
	for _, want := range []string{"0", "1", "2", "end"} {
		if m := watch.next(t); string(m.Payload) != want {
			t.Fatalf("watcher got %q, want %q (refused messages must not be delivered)", m.Payload, want)
		}
	}
	if !strings.Contains(e.logs.String(), `rate limited: client \"rl-pub\" messages`) {
		t.Errorf("no rate-limited line in the broker's log")
	}
}

func TestRateLimitBytesPerAttribute(t *testing.T) {
	e := startRateLimited(t)
	alice := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-alice",
		Username: "alice", UsernameFlag: true, Password: []byte("s3cret"), PasswordFlag: true})
	if reason, why := alice.publish1(t, "rl/b", make([]byte, 80)); reason >= 0x80 {
		t.Fatalf("80 B of the admins' 100 B: PUBACK %#x %q", reason, why)
	}
	reason, why := alice.publish1(t, "rl/b", make([]byte, 30))
	if reason != byte(packets.QuotaExceeded) || !strings.HasPrefix(why, "byte rate too high: 1 bytes/s (burst 100) per role") {
		t.Fatalf("30 B more: PUBACK %#x %q, want 0x97 per role", reason, why)
	}
	if reason, _ := alice.publish1(t, "rl/b", make([]byte, 20)); reason >= 0x80 {
		t.Fatalf("20 B more (100 in all; the refused 30 B not charged): PUBACK %#x", reason)
	}
}

// A 3.1.1 client has no reason codes to read: over a limit it is
// disconnected, and its refused message is not delivered.
func TestRateLimitDisconnectsV311Publisher(t *testing.T) {
	e := startRateLimited(t)
	watch := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-watch3"})
	watch.subscribe(t, "rl/#")
	lost := make(chan error, 1)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + e.addr).SetClientID("rl-v3").
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetKeepAlive(60 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("3.1.1 connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	for i := range 3 {
		if tok := c.Publish("rl/v3", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("message %d within the burst: %v", i, tok.Error())
		}
	}
	c.Publish("rl/v3", 1, false, "over")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("the 3.1.1 client over its limit is still connected")
	}
	for _, want := range []string{"0", "1", "2"} {
		if m := watch.next(t); string(m.Payload) != want {
			t.Fatalf("watcher got %q, want %q", m.Payload, want)
		}
	}
	if !strings.Contains(e.logs.String(), "publish refused: message rate too high") {
		t.Errorf("the disconnection is not logged with its cause")
	}
}

func TestRateLimitConnectionAttempts(t *testing.T) {
	e := startRateLimited(t)
	for i := range 2 {
		c, ack, err := connectV5(t, e.addr, &paho.Connect{ClientID: "rl-flappy"})
		if err != nil {
			t.Fatalf("attempt %d within the limit: %v (%+v)", i+1, err, ack)
		}
		if err := c.Disconnect(&paho.Disconnect{}); err != nil {
			t.Fatal(err)
		}
		<-c.Done()
	}
	_, ack, err := connectV5(t, e.addr, &paho.Connect{ClientID: "rl-flappy"})
	if err == nil || ack == nil || ack.ReasonCode != byte(packets.ConnectionRateExceeded) {
		t.Fatalf("3rd attempt: %v, CONNACK %+v; want 0x9F", err, ack)
	}
	if ack.Properties == nil || !strings.HasPrefix(ack.Properties.ReasonString, "connection rate exceeded: 2 connects/minute per client") {
		t.Errorf("reason string %+v", ack.Properties)
	}
	// A 3.1.1 client has return codes only: 3, server unavailable.
	_, rc, err := connectV311(t, e.addr, "rl-flappy", "", "", nil)
	if err == nil || rc != 3 {
		t.Fatalf("3.1.1 attempt over the limit: rc %d, %v; want 3", rc, err)
	}
	mustConnectV5(t, e.addr, &paho.Connect{ClientID: "rl-other"}) // another id is not limited
}

// BenchmarkRateLimitOnPublish is the per-message cost of the plugin through
// the host: a per-client message and byte bucket (two kv_add), no refusals.
func BenchmarkRateLimitOnPublish(b *testing.B) {
	p, err := plugintest.Open(b.Context(), rateLimit(b), plugintest.Options{
		Config: []byte(`{"per_client": {"messages_per_second": 1e9, "bytes_per_second": 1e9}}`)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := &hooks.Client{ID: "bench", ProtocolVersion: 5, Handle: 1}
	m := &packets.Publish{Topic: "bench/t", Payload: make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := p.OnPublish(c, m); err != nil || res.Action != hooks.Continue {
			b.Fatal(res, err)
		}
	}
}
