package crash

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// expirySecs is the short Message Expiry Interval and Session Expiry
// Interval of the things that must be gone after the last restart.
const expirySecs = 2

// drainWait bounds the final drain: every owed message delivered.
const drainWait = 90 * time.Second

// world is the run's clients.
type world struct {
	pubs   []*publisher  // every publisher, for the verdict
	load   []*publisher  // those that publish during the kills
	online []*subscriber // connected through the kills
	// offline subscribed before the kills and come back only after the last
	// restart; oexp among them holds messages with a short expiry.
	offline []*subscriber
	oexp    *subscriber
	pr      *publisher // retained values on T/ret/0..retTopics-1
	pexp    *publisher // the expiring messages and retained values, then a barrier
	pbar    *publisher // the barriers after the last restart
	short   *peer      // a session with a short expiry
	// expiredBy is when everything expiring has expired, with a margin.
	expiredBy time.Time
	// flights[k] is what each publisher had in flight at kill k.
	flights map[int]map[string]int
}

// retTopics is how many topics carry retained values.
const retTopics = 8

// TestAcknowledgedMessagesSurviveKill9 is issue 9's crash test: a real plume
// process with --data-dir, killed with SIGKILL at random moments while real
// clients publish QoS 1 and 2 to persistent sessions (online and offline)
// and retained topics, restarted on the same data directory each time; then
// a clean restart, and the verdict (verdict_test.go).
func TestAcknowledgedMessagesSurviveKill9(t *testing.T) {
	h := newHarness(t)
	h.start()
	w := setUp(t, h)

	subStop, pubStop := make(chan struct{}), make(chan struct{})
	var subsDone, pubsDone []<-chan struct{}
	for _, s := range w.online {
		subsDone = append(subsDone, h.goActor(s.name, func() error { return s.run(subStop) }))
	}
	for _, pb := range w.load {
		pubsDone = append(pubsDone, h.goActor(pb.name, func() error { return pb.run(pubStop) }))
	}

	for k := 1; k <= *kills; k++ {
		killAtRandom(t, h, w, k)
		h.start()
	}
	close(pubStop)
	for _, done := range pubsDone {
		<-done // each completes the flow it has in flight
	}

	expiring(t, h, w)
	// A clean stop, then a restart once everything expiring has expired
	// while the broker was down: the clock is the condition here.
	h.stop()
	h.mu.Lock()
	h.cleanLife = h.life + 1
	h.mu.Unlock()
	time.Sleep(time.Until(w.expiredBy))
	h.start()

	present, err := w.short.connect(false)
	if err != nil {
		t.Fatal(err)
	}
	if present {
		h.violate("%s: a session with Session Expiry %d s was resumed (Session Present) after it expired while the broker was down",
			w.short.name, expirySecs)
	}
	w.short.drop()
	for _, s := range w.offline {
		subsDone = append(subsDone, h.goActor(s.name, func() error { return s.run(subStop) }))
	}
	// New messages must arrive without a new SUBSCRIBE: the subscriptions
	// survived. pexp's barrier comes after its expired messages on the same
	// topic, so once it is in, those will not come [MQTT-4.6.0-6].
	for _, topic := range []string{h.tag + "/data/barrier", h.tag + "/ret/barrier"} {
		if err := w.pbar.publish(topic, 1, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.pexp.publish(h.tag+"/exp/msg", 1, false, 0); err != nil {
		t.Fatal(err)
	}
	drain(t, h, w)
	close(subStop)
	for _, done := range subsDone {
		<-done
	}
	retained := readRetained(t, h)
	verdict(t, h, w, retained)
}

// setUp makes the sessions and subscriptions, and the first retained values,
// before the first kill.
func setUp(t *testing.T, h *harness) *world {
	T := h.tag
	w := &world{flights: map[int]map[string]int{}}
	data := func(pb *publisher, qos byte) *publisher {
		pb.next = func(int) (string, byte, bool) { return T + "/data/" + pb.name, qos, false }
		return pb
	}
	w.load = []*publisher{
		data(newPublisher(h, "p5q1", 5), 1), data(newPublisher(h, "p5q2", 5), 2),
		data(newPublisher(h, "p4q1", 4), 1), data(newPublisher(h, "p4q2", 4), 2),
	}
	w.pr = newPublisher(h, "pret", 5)
	w.pr.next = func(seq int) (string, byte, bool) {
		return T + "/ret/" + strconv.Itoa(seq%retTopics), byte(seq%2 + 1), true
	}
	w.load = append(w.load, w.pr)
	w.pexp, w.pbar = newPublisher(h, "pexp", 5), newPublisher(h, "pbar", 4)
	w.pubs = append(append([]*publisher{}, w.load...), w.pexp, w.pbar)

	w.online = []*subscriber{
		newSubscriber(h, "s5", 5, 2, T+"/data/#", T+"/ret/#"),
		newSubscriber(h, "s4", 4, 2, T+"/data/#"),
	}
	w.oexp = newSubscriber(h, "oexp", 5, 1, T+"/exp/msg")
	w.offline = []*subscriber{
		newSubscriber(h, "o5", 5, 2, T+"/data/#"),
		newSubscriber(h, "o4", 4, 1, T+"/data/+", T+"/ret/+"), // QoS 2 messages arrive at QoS 1
		w.oexp,
	}
	for _, s := range append(append([]*subscriber{}, w.online...), w.offline...) {
		if err := s.open(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range w.offline {
		if err := s.disconnect(); err != nil {
			t.Fatal(err)
		}
	}
	for _, pb := range w.pubs {
		if err := pb.open(); err != nil {
			t.Fatal(err)
		}
	}
	for range retTopics { // every retained topic has a value before the first kill
		topic, qos, retain := w.pr.next(len(w.pr.msgs) + 1)
		if err := w.pr.publish(topic, qos, retain, 0); err != nil {
			t.Fatal(err)
		}
	}
	w.short = newPeer(h, "short", 5, expirySecs)
	return w
}

// killAtRandom kills the broker at a random moment of life k: right after
// it started (recovery, reconnections) or after a random number of
// acknowledgements, plus a random delay, so that kills land at every point
// of the flows. It logs what was in flight.
func killAtRandom(t *testing.T, h *harness, w *world, k int) {
	var target int64
	if h.rng.Float64() >= 0.15 {
		target = 1 + h.rng.Int64N(2*perLife)
	}
	delay := time.Duration(h.rng.IntN(20_000)) * time.Microsecond
	if !h.awaitAcks(target, 2*time.Minute) {
		t.Fatalf("life %d: %d acknowledgements in 2 minutes, waiting for %d: the broker makes no progress", k, h.acks.Load(), target)
	}
	time.Sleep(delay) // a random moment, not a condition
	flights := map[string]int{}
	var b strings.Builder
	for _, pb := range w.load {
		flights[pb.name] = pb.inFlightSeq()
		fmt.Fprintf(&b, "\n  %s", pb.inFlight())
	}
	for _, s := range w.online {
		fmt.Fprintf(&b, "\n  %s", s.state())
	}
	w.flights[k] = flights
	acks := h.acks.Load()
	h.kill()
	t.Logf("kill %d: %d acknowledgements into life %d (waited for %d, then %v); in flight:%s", k, acks, k, target, delay, b.String())
}

// expiring publishes, once the kills are over, what must be gone after the
// last restart: messages with a short Message Expiry queued for an offline
// session, retained values with a short expiry, a session with a short
// Session Expiry; and what must stay beside them.
func expiring(t *testing.T, h *harness, w *world) {
	T := h.tag
	steps := []struct {
		topic  string
		qos    byte
		retain bool
		expiry uint32
	}{
		{T + "/exp/msg", 1, false, 0}, // stays
		{T + "/exp/msg", 1, false, expirySecs},
		{T + "/exp/msg", 2, false, expirySecs},
		{T + "/exp/ret/0", 1, true, expirySecs},
		{T + "/exp/ret/1", 2, true, expirySecs},
		{T + "/exp/ret/keep", 1, true, 0}, // stays
	}
	for _, s := range steps {
		if err := w.pexp.publish(s.topic, s.qos, s.retain, s.expiry); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.short.connect(true); err != nil {
		t.Fatal(err)
	}
	if err := w.short.subscribe(1, T+"/exp/short"); err != nil {
		t.Fatal(err)
	}
	if err := w.short.disconnect(); err != nil {
		t.Fatal(err)
	}
	w.expiredBy = time.Now().Add((expirySecs + 1) * time.Second)
}

// drain waits until every subscriber got every message owed to it, or
// drainWait passed (the verdict then names what is missing).
func drain(t *testing.T, h *harness, w *world) {
	deadline := time.After(drainWait)
	subs := append(append([]*subscriber{}, w.online...), w.offline...)
	for {
		all := true
		for _, s := range subs {
			all = all && s.hasAll(w.pubs)
		}
		if all {
			return
		}
		select {
		case <-h.delivered:
		case <-deadline:
			t.Logf("drain: not every owed message arrived within %v", drainWait)
			return
		}
	}
}
