package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
)

// The hostile plugin (host/testdata/plugins/hostile) misbehaves in authorize
// by topic: "loop" spins forever, "bomb" allocates without end, "panic"
// panics, "sleep:DURATION" sleeps, "open:PATH" reads a host file; anything
// else is allowed.
const reasonNoMatchingSubscribers = 0x10

// startHostile serves a broker whose chain is the hostile plugin, configured
// by adjust.
func startHostile(t *testing.T, adjust func(*host.PluginConfig)) *env {
	t.Helper()
	pc := plugin("hostile", testPlugin(t, "hostile"), "")
	if adjust != nil {
		adjust(&pc)
	}
	return start(t, host.Config{Plugins: []host.PluginConfig{pc}}, broker.Options{AllowAnonymous: true})
}

func traps(e *env) uint64 { return e.host.Plugin("hostile").Traps() }

// An endless loop in authorize holds up the one client whose publish it is
// deciding, until the deadline: then the failure policy answers (fail closed:
// PUBACK 0x87; fail open: the publish goes through). Other clients publish
// and receive all the while, on the pool's other instance. A plugin that
// sleeps instead (a blocking WASI call, where no loop check reaches) is cut
// off the same way, as the README promises, not after its 30 s sleep.
func TestEndlessLoopCutOffAtDeadlineOthersFlow(t *testing.T) {
	const deadline = 600 * time.Millisecond
	for _, tc := range []struct {
		name   string
		topic  string
		policy host.OnError
		want   byte
	}{
		{"fail-closed", "loop", host.OnError{}, reasonNotAuthorized},
		{"fail-open", "loop", host.OnError{Auth: host.FailOpen}, reasonNoMatchingSubscribers},
		{"sleep-fail-closed", "sleep:30s", host.OnError{}, reasonNotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startHostile(t, func(pc *host.PluginConfig) {
				pc.CallTimeout, pc.PoolSize, pc.OnError = deadline, 2, tc.policy
			})
			looper := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "looper"})
			sink := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "sink"})
			sink.subscribe(t, "fine/#")
			other := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "other"})

			// The other client publishes one message after another while
			// the looper's call spins; the sink stamps each arrival.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var published int
			var otherErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ; ; published++ {
					select {
					case <-stop:
						return
					default:
					}
					pr, err := other.Publish(ctxWait(t), &paho.Publish{Topic: "fine/other", QoS: 1, Payload: []byte(fmt.Sprint(published))})
					if err != nil || pr.ReasonCode != 0 {
						otherErr = fmt.Errorf("publish %d: %v, %+v", published, err, pr)
						return
					}
				}
			}()

			sent := time.Now()
			reason, why := looper.publish1(t, tc.topic, []byte("x"))
			acked := time.Now()
			close(stop)
			wg.Wait()
			if otherErr != nil {
				t.Fatalf("the other client, during the %s: %v", tc.topic, otherErr)
			}
			if reason != tc.want {
				t.Errorf("%s publish: PUBACK %#x %q, want %#x", tc.topic, reason, why, tc.want)
			}
			// The answer comes after the deadline, never before; the upper
			// bound only has to tell a cut call from one that ran on (the
			// loop forever, the sleep 30 s), and is wide enough that a busy
			// machine does not fail it.
			if took := acked.Sub(sent); took < deadline || took > 10*deadline {
				t.Errorf("%s publish answered after %s, want after the %s deadline and well before the call would end", tc.topic, took, deadline)
			}
			// Messages the sink got in the second half of the stall prove
			// the broker kept serving others while the loop ran.
			for i := 0; i < published; i++ {
				sink.next(t)
			}
			during := 0
			for _, at := range sink.arrivals() {
				if at.After(sent.Add(deadline/2)) && at.Before(acked) {
					during++
				}
			}
			t.Logf("%s answered after %s; meanwhile %d messages from the other client, %d in the stall's second half",
				tc.topic, acked.Sub(sent).Round(time.Millisecond), published, during)
			if during < 1 {
				t.Errorf("the sink received %d messages in the second half of the stall, want some", during)
			}
			if published < 3 {
				t.Errorf("the other client published %d messages during the %s stall, want many", published, deadline)
			}
			if traps(e) != 1 {
				t.Errorf("traps = %d, want 1 (the stalled instance)", traps(e))
			}
			// The looper itself is still connected and served by a fresh instance.
			if reason, why := looper.publish1(t, "fine/looper", []byte("after")); reason != 0 {
				t.Errorf("looper after the %s: PUBACK %#x %q, want 0", tc.topic, reason, why)
			}
			looper.stillConnected(t)
			other.stillConnected(t)
			if !strings.Contains(e.logs.String(), "plugin instance discarded") {
				t.Errorf("log does not mention the discarded instance:\n%s", e.logs)
			}
		})
	}
}

// A plugin that allocates without end hits its memory cap and traps: the
// publish is denied, and the next one is served by a fresh instance.
func TestMemoryBombCappedThroughBroker(t *testing.T) {
	e := startHostile(t, func(pc *host.PluginConfig) {
		pc.MemoryPages = 512 // 32 MiB
		pc.CallTimeout = 20 * time.Second
	})
	c := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "bomber"})
	start := time.Now()
	if reason, why := c.publish1(t, "bomb", nil); reason != reasonNotAuthorized {
		t.Fatalf("bomb: PUBACK %#x %q, want 0x87", reason, why)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("bomb took %s: the cap, not the deadline, must stop it", took)
	}
	if traps(e) != 1 {
		t.Errorf("traps = %d, want 1", traps(e))
	}
	if reason, why := c.publish1(t, "fine", nil); reason != reasonNoMatchingSubscribers {
		t.Errorf("after the bomb: PUBACK %#x %q, want 0x10", reason, why)
	}
	c.stillConnected(t)
}

// A panic ends its instance; the panicking client is denied and the log
// carries the panic message; the next client is served, and so is the first.
func TestPanicReplacesInstanceNextClientServed(t *testing.T) {
	e := startHostile(t, func(pc *host.PluginConfig) { pc.PoolSize = 1 })
	first := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "panicker"})
	if reason, why := first.publish1(t, "panic", nil); reason != reasonNotAuthorized {
		t.Fatalf("panic: PUBACK %#x %q, want 0x87", reason, why)
	}
	next := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "next"})
	next.subscribe(t, "fine")
	if reason, why := next.publish1(t, "fine", []byte("served")); reason != 0 {
		t.Errorf("next client: PUBACK %#x %q, want 0", reason, why)
	}
	if m := next.next(t); string(m.Payload) != "served" {
		t.Errorf("next client received %q", m.Payload)
	}
	if reason, why := first.publish1(t, "fine", []byte("again")); reason != 0 {
		t.Errorf("panicking client afterwards: PUBACK %#x %q, want 0", reason, why)
	}
	first.stillConnected(t)
	if traps(e) != 1 {
		t.Errorf("traps = %d, want 1", traps(e))
	}
	if !strings.Contains(e.logs.String(), "hostile plugin panics on purpose") {
		t.Errorf("log lacks the guest's panic message:\n%s", e.logs)
	}
}

// A plugin cannot open a host file through WASI: nothing is mounted unless
// the config grants it, so the open fails and the plugin denies with the
// error, which never holds the file's content.
func TestWASIOpenOfHostFileFails(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cret-content"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startHostile(t, nil)
	c := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "reader"})
	for _, path := range []string{secret, "/etc/passwd", "../../go.mod"} {
		reason, why := c.publish1(t, "open:"+path, nil)
		if reason != reasonNotAuthorized || !strings.Contains(why, "open ") {
			t.Errorf("open %s: PUBACK %#x %q, want 0x87 with the open error", path, reason, why)
		}
		t.Logf("open %s: %q", path, why)
		if strings.Contains(why, "s3cret-content") || strings.Contains(why, "root:") {
			t.Errorf("open %s: file content leaked: %q", path, why)
		}
	}
	if traps(e) != 0 {
		t.Errorf("traps = %d; a failed open is an error the guest handles, not a trap", traps(e))
	}
}
