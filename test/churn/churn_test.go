package churn

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
)

var (
	brokerAddr = flag.String("churn.broker", "", "broker address host:port; empty starts a Plume broker in the test process")
	duration   = flag.Duration("churn.duration", 2*time.Second, "how long each scenario churns")
	seedFlag   = flag.Uint64("churn.seed", 0, "seed of the random choices; 0 picks one (it is logged, to replay a run)")
	park       = flag.Duration("churn.park", 100*time.Millisecond, "the in-process broker's ParkIdleAfter: short, so that connections park and wake often under churn; -1ns never parks")
	reference  = flag.String("churn.reference", "", `the broker is a reference implementation ("mosquitto"): its known deviations are logged, not failed`)
)

// settle is how long the end of a scenario may take to drain what is owed.
const settle = 20 * time.Second

// target is the broker a scenario runs against, with its random source.
type target struct {
	t     *testing.T
	addr  string
	plume *broker.Broker // nil for an external broker
	rng   *rand.Rand
	seed  uint64
	tag   string // unique per scenario: topics and client ids
	mu    sync.Mutex
	// aborts and closes count connections the clients ended with a TCP
	// reset and with an orderly close (peer.reset).
	aborts, closes atomic.Int64
	deviations     map[string]int // a reference broker's known deviations seen, by property; guarded by mu
}

// newTarget starts an in-process Plume (or uses -churn.broker) for one
// scenario and logs the seed that replays it.
func newTarget(t *testing.T) *target {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: -churn.seed %d -run '%s')", seed, seed, t.Name())
	tg := &target{t: t, addr: *brokerAddr, seed: seed, rng: rand.New(rand.NewPCG(seed, 16)),
		tag: fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), seed%100000)}
	tg.deviations = map[string]int{}
	t.Cleanup(func() {
		t.Logf("connections ended by TCP reset %d, by close %d", tg.aborts.Load(), tg.closes.Load())
		for p, n := range tg.deviations {
			t.Logf("known deviation of the reference broker, %d times: %s", n, p)
		}
	})
	if tg.addr != "" {
		return tg
	}
	lg := zerolog.Nop()
	if f := os.Getenv("CHURN_LOG"); f != "" {
		w, _ := os.Create(f)
		lg = zerolog.New(w).Level(zerolog.DebugLevel)
	}
	b, err := broker.New(broker.Options{Log: lg, AllowAnonymous: true, SysInterval: -1,
		ParkIdleAfter: *park, Store: session.NewMemoryStore(), Limits: broker.Limits{MaxQueued: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(l, "churn") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	tg.addr, tg.plume = l.Addr().String(), b
	return tg
}

// rand returns a random source of its own for one actor, drawn from the
// scenario's seed so that a replay makes the same choices.
func (tg *target) rand() *rand.Rand {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return rand.New(rand.NewPCG(tg.rng.Uint64(), tg.rng.Uint64()))
}

// dropped is the in-process broker's count of messages a limit dropped;
// -1 for an external broker, whose drops cannot be known.
func (tg *target) dropped() int64 {
	if tg.plume == nil {
		return -1
	}
	return int64(tg.plume.Stats().Dropped)
}

// violation reports a broken property: a test failure, or for a reference
// broker's known deviation (reference_test.go) a log line.
func (tg *target) violation(property, format string, args ...any) {
	tg.t.Helper()
	msg := fmt.Sprintf(property+": "+format, args...)
	if knownDeviation(property) {
		tg.mu.Lock()
		tg.deviations[property]++
		n := tg.deviations[property]
		tg.mu.Unlock()
		if n <= 3 { // the rest are counted, and the counts logged at the end
			tg.t.Log("known deviation of the reference broker: " + msg)
		}
		return
	}
	tg.t.Error(msg)
}

// Properties, as violation names them.
const (
	propLost        = "no acknowledged message lost"
	propExactlyOnce = "QoS 2 exactly once"
	propOrder       = "per-publisher order"
	propResend      = "DUP and packet id kept on redelivery"
	propPresent     = "Session Present on resume"
	propQoS         = "delivered QoS = min(published, granted)"
	propOverlap     = "delivered at the highest QoS of overlapping subscriptions [MQTT-3.3.4-2] [MQTT-3.3.5-1]"
	propOneCopy     = "one copy per message and client with overlapping subscriptions (Plume's choice: the specification allows one per subscription)"
	propCopyOrder   = "per-publisher order over the copies of overlapping subscriptions"
	propSubIDs      = "a copy carries only the Subscription Identifiers of matching subscriptions [MQTT-3.3.4-3] [MQTT-3.3.4-5]"
	propAllSubIDs   = "one copy carries the Subscription Identifiers of all matching subscriptions [MQTT-3.3.4-4]"
	propRetained    = "retained value = message routed last"
	propSharedLost  = "no acknowledged message lost in a shared group"
)
