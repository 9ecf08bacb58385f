package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/plumemq/plume/bench/internal/wire"
)

// startMochi runs mochi-mqtt in-process on a free loopback port, configured
// as bench/peers/mochi runs it, and returns the address and the server's pid
// (this process).
func startMochi(t *testing.T) string {
	t.Helper()
	addr, _ := startMochiOn(t, "")
	return addr
}

// startMochiOn is startMochi with mochi's Pebble hook on dir when dir is not
// empty, as bench/peers/mochi -pebble runs it; it also returns a function
// that stops the server (closing its store) before the test's cleanup would.
func startMochiOn(t *testing.T, dir string) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if err := server.AddHook(new(pebble.Hook), &pebble.Options{Path: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = server.Close() }) }
	t.Cleanup(stop)
	return addr, stop
}

func TestQoS1RoundTripThroughMochi(t *testing.T) {
	addr := startMochi(t)
	sub, err := dial(addr, "sub", keepAlive, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if err := sub.subscribe("t/+", 1); err != nil {
		t.Fatal(err)
	}
	pub, err := dial(addr, "pub", keepAlive, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()

	pub.buf = wire.AppendPublish(pub.buf[:0], "t/1", 1, false, 9, []byte("hello"))
	if _, err := pub.nc.Write(pub.buf); err != nil {
		t.Fatal(err)
	}
	_ = pub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, _, err := wire.Read(pub.r, nil)
	if err != nil || h.Type != wire.PUBACK {
		t.Fatalf("publisher got type %d, err %v; want PUBACK", h.Type, err)
	}
	if id, _ := wire.ParsePubAck(h.Body); id != 9 {
		t.Fatalf("PUBACK for packet %d, want 9", id)
	}

	_ = sub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, _, err = wire.Read(sub.r, nil)
	if err != nil || h.Type != wire.PUBLISH {
		t.Fatalf("subscriber got type %d, err %v; want PUBLISH", h.Type, err)
	}
	p, err := wire.ParsePublish(h.Flags, h.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Topic) != "t/1" || string(p.Payload) != "hello" || p.QoS != 1 || p.PacketID == 0 {
		t.Fatalf("delivered %+v", p)
	}
}

func TestFlowScenariosLoseNothingAgainstMochi(t *testing.T) {
	addr := startMochi(t)
	durableAddr, _ := startMochiOn(t, t.TempDir())
	for _, name := range []string{"pairs", "fanin", "fanout", "pairs-durable", "fanin-durable"} {
		t.Run(name, func(t *testing.T) {
			addr := addr
			if scenarios[name].persistent {
				addr = durableAddr
			}
			res, err := runFlow(scenarios[name], flowConfig{
				addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, drain: 5 * time.Second,
				outstanding: 200, inflight: 16, payload: 64, bufSize: 16 << 10,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.delivered == 0 || res.hist.n == 0 {
				t.Fatalf("nothing delivered in the window: %+v", res)
			}
			if res.lost != 0 || res.stalls != 0 {
				t.Fatalf("lost %d, stalls %d (sent %d, acked %d, received %d)", res.lost, res.stalls, res.sent, res.acked, res.received)
			}
			wantReceived := res.sent * uint64(len(scenarios[name].receives(0)))
			if res.received != wantReceived {
				t.Fatalf("received %d deliveries, want %d", res.received, wantReceived)
			}
		})
	}
}

func TestIdleMeasuresThisProcessRSS(t *testing.T) {
	addr := startMochi(t)
	res, err := runIdle(idleConfig{addr: addr, pid: os.Getpid(), conns: 200, concurrency: 8, settle: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.conns != 200 || res.rssAfterKiB <= 0 || res.rssMidKiB <= 0 || res.droppedByPeer != 0 {
		t.Fatalf("idle result %+v", res)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tt.q)
		if d := got - tt.want; d < -tt.want/50 || d > tt.want/50 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", tt.q, got, tt.want)
		}
	}
	if bucketValue(bucketOf(12345)) > 12345 || bucketValue(bucketOf(12345)+1) <= 12345 {
		t.Errorf("bucket of 12345 does not bracket it")
	}
}

// The trickle scenario announces a PUBLISH of exactly the length asked for:
// 1,000,000 is C0 84 3D in the variable-length encoding.
func TestAnnouncementAnnouncesTheLengthAskedFor(t *testing.T) {
	if got, want := announcement(1_000_000), []byte{0x30, 0xC0, 0x84, 0x3D, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("announcement = % x, want % x", got, want)
	}
}

// The durable scenarios are their in-memory twins at QoS 1 with persistent
// subscribers.
func TestDurableScenariosArePersistentQoS1(t *testing.T) {
	for _, name := range []string{"pairs", "fanin"} {
		base, d := scenarios[name], scenarios[name+"-durable"]
		if d.name != name+"-durable" || d.qos != 1 || !d.persistent || base.persistent || d.pubs != base.pubs || d.subs != base.subs {
			t.Errorf("%s-durable = %+v, want %s at QoS 1 with persistent subscribers", name, d, name)
		}
	}
}

// What fill queues for offline sessions is what drainSession finds after the
// broker restarts on the same store: mochi with its Pebble hook keeps it.
func TestRecoveryFillSurvivesARestartOfMochiPebble(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startMochiOn(t, dir)
	const sessions, per = 20, 10
	if err := subscribeSessions(addr, sessions); err != nil {
		t.Fatal(err)
	}
	if err := fillFrom(addr, 0, 1, sessions, per, 8, 64); err != nil {
		t.Fatal(err)
	}
	stop()
	addr, _ = startMochiOn(t, dir)
	present, got, err := drainSession(addr, 3, per)
	if err != nil {
		t.Fatal(err)
	}
	if !present || got != per {
		t.Fatalf("session 3 after restart: present %v, %d of %d messages", present, got, per)
	}
}

// A broker that exited is not running even while it is an unreaped zombie,
// which kill -0 would still find: the wait must not hang on it.
func TestRunningIsFalseForAZombie(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !running(pid) {
		t.Fatalf("running(%d) = false for a live process", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("running(%d) still true 30 s after kill (a zombie until Wait)", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Wait()
}

func TestDurableTargetsAreRatiosToPlumeInMemory(t *testing.T) {
	results := []Result{
		{Broker: subject, Scenario: "fanin-durable", MsgsPerSec: 1000},
		{Broker: plumeSync, Scenario: "fanin-durable", MsgsPerSec: 400},
		{Broker: plumeAsync, Scenario: "fanin-durable", MsgsPerSec: 900, Lost: 2},
	}
	find := func(sc, broker string) *Result {
		for i := range results {
			if results[i].Scenario == sc && results[i].Broker == broker {
				return &results[i]
			}
		}
		return nil
	}
	lines := strings.Join(checkTargets(find), "\n")
	for _, want := range []string{
		"target fanin-durable plume-sync >= 50% of plume in memory: FAIL (40%); nothing lost at QoS 1: PASS (0 lost)",
		"target fanin-durable plume-async >= 80% of plume in memory: PASS (90%); nothing lost at QoS 1: FAIL (2 lost)",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("targets do not say %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "pairs-durable") {
		t.Errorf("targets mention pairs-durable, which did not run:\n%s", lines)
	}
}

// idle-ping: every connection pings, spread over the period, and every ping
// is answered; the broker's CPU over the window is read.
func TestIdlePingPingsEveryConnectionAndCountsTheAnswers(t *testing.T) {
	addr := startMochi(t)
	res, err := runIdle(idleConfig{addr: addr, pid: os.Getpid(), conns: 50, concurrency: 8, settle: 3 * time.Second,
		pingEvery: 500 * time.Millisecond, pingFor: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 s at one ping per connection per 0.5 s: three rounds of 50, and
	// more while RSS settles.
	if res.pings < 150 || res.pongs != res.pings || res.pingFails != 0 || res.droppedByPeer != 0 {
		t.Fatalf("pings %d, pongs %d, refused %d, closed by the broker %d", res.pings, res.pongs, res.pingFails, res.droppedByPeer)
	}
	if res.pingWindow < 1500*time.Millisecond || res.brokerCPU <= 0 || res.marginalKiB != 0 {
		t.Fatalf("window %v, broker CPU %v, marginal %v (none with pings)", res.pingWindow, res.brokerCPU, res.marginalKiB)
	}
}

func TestKeepAliveForIsTwiceThePingPeriod(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  uint16
	}{{15 * time.Second, 30}, {500 * time.Millisecond, 2}, {100 * time.Hour, 65535}} {
		if got := keepAliveFor(tc.every); got != tc.want {
			t.Errorf("keepAliveFor(%v) = %d, want %d", tc.every, got, tc.want)
		}
	}
}

// Each run's clean clients get ids of their own (runTag): a run that
// reused the last one's raced the broker's teardown of its connections.
func TestRunTagsDifferBetweenRuns(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tag := runTag()
		if len(tag) != 4 || seen[tag] {
			t.Fatalf("run tag %q: repeated, or not the 4 characters that keep the ids short", tag)
		}
		seen[tag] = true
	}
}
