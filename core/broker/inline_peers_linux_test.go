package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// Serving inline only when several connections are latency-bound at once
// (peersWaiting, docs/decisions/0051): with eight clients the poller serves
// several sockets per wait and the tail falls to Mosquitto's; with one it
// costs round trips (0044). These brokers have no store and no hook, as
// plume without a data directory: every client here may be served inline.

// lockstep sends message i on every client, then reads each one's echo:
// the clients' readers wait for their next packet at the same moment, as
// eight ping-pong clients do.
func lockstep(t *testing.T, cs []*rawClient, topics []string, rounds int) {
	t.Helper()
	for i := range rounds {
		for k, c := range cs {
			c.publish(&packets.Publish{Topic: topics[k], Payload: []byte{byte(i), byte(i >> 8)}})
		}
		for k, c := range cs {
			got := c.nextPublish()
			if got.Topic != topics[k] || len(got.Payload) != 2 || int(got.Payload[0])|int(got.Payload[1])<<8 != i {
				t.Fatalf("round %d, client %d: got %q % x", i, k, got.Topic, got.Payload)
			}
		}
	}
}

// peers connects n clients, each subscribed to a topic of its own.
func peers(t *testing.T, tb *testBroker, n int) ([]*rawClient, []string) {
	cs, topics := make([]*rawClient, n), make([]string, n)
	for k := range n {
		cs[k], _ = connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("peer-%d", k)))
		topics[k] = fmt.Sprintf("peers/%d", k)
		cs[k].subscribe(1, sub(topics[k], 0))
	}
	return cs, topics
}

// A lone client with one message in flight stays on its goroutine, where its
// round trips are shorter: not one inline service in 300 round trips (the
// poller served it ~300 times before the rule).
func TestLoneLatencyBoundClientStaysOnItsGoroutine(t *testing.T) {
	tb := inlineCapableBroker(t, broker.Options{})
	cs, topics := peers(t, tb, 1)
	before := broker.InlineServes()
	lockstep(t, cs, topics, 300)
	if n := broker.InlineServes() - before; n != 0 {
		t.Fatalf("%d inline services for a lone client's 300 round trips", n)
	}
}

// Clients latency-bound at the same time are served on the poller.
func TestLatencyBoundPeersAreServedInline(t *testing.T) {
	tb := inlineCapableBroker(t, broker.Options{})
	cs, topics := peers(t, tb, 4)
	before := broker.InlineServes()
	lockstep(t, cs, topics, 300)
	// 1,200 round trips; a wait more than peerWindow away from every other
	// (a descheduled thread) may leave one to its goroutine now and then.
	if n := broker.InlineServes() - before; n < 300 {
		t.Fatalf("%d inline services for four clients' 1,200 round trips", n)
	}
}

// A client served inline that is left alone goes back to its goroutine and
// goes on, every message whole and in order: inline for at most peerWindow
// (1 ms) after its peer's last wait, then never again while alone.
func TestInlineClientLeftAloneGoesBackToItsGoroutine(t *testing.T) {
	tb := inlineCapableBroker(t, broker.Options{})
	cs, topics := peers(t, tb, 2)
	before := broker.InlineServes()
	lockstep(t, cs, topics, 200)
	if broker.InlineServes() == before {
		t.Fatal("the two clients were never served inline: nothing to leave")
	}
	cs[1].disconnect(packets.NormalDisconnection)
	cs[1].expectClosed()
	// Ten round trips at a time until ten go by without the poller; 2,000
	// round trips take far more than peerWindow on any machine.
	for chunk := 0; ; chunk++ {
		if chunk == 200 {
			t.Fatal("still served inline 2,000 round trips after its peer left")
		}
		before = broker.InlineServes()
		lockstep(t, cs[:1], topics[:1], 10)
		if broker.InlineServes() == before {
			break
		}
	}
	before = broker.InlineServes()
	lockstep(t, cs[:1], topics[:1], 300)
	if n := broker.InlineServes() - before; n != 0 {
		t.Fatalf("%d inline services in a lone client's 300 round trips", n)
	}
	// Its goroutine still answers what the poller never handles.
	cs[0].subscribe(2, sub("peers/other", 0))
	cs[0].disconnect(packets.NormalDisconnection)
	cs[0].expectClosed()
}

// Clients that send together but seldom — a fleet's devices, each once a
// second — stay on their goroutines: ten thousand of them queued behind
// each other on the poller's one thread (0051). Here two clients send at
// the same moment every 15 ms, past busyWindow (10 ms): no inline service
// (every round before the rule).
func TestSeldomPeersStayOnTheirGoroutines(t *testing.T) {
	tb := inlineCapableBroker(t, broker.Options{})
	cs, topics := peers(t, tb, 2)
	var before uint64
	for i := range 22 {
		if i == 2 {
			// Counted from the third round: the first publish came right
			// after the SUBSCRIBE, so each client entered inline service,
			// and the second round's publish was served there once before
			// its gap sent it back.
			before = broker.InlineServes()
		}
		lockstep(t, cs, topics, 1)
		time.Sleep(15 * time.Millisecond) // the pace is the scenario: nothing to await
	}
	if n := broker.InlineServes() - before; n != 0 {
		t.Fatalf("%d inline services for two clients sending every 15 ms", n)
	}
}
