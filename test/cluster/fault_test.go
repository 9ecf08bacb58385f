package cluster

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The kill -9 fault test (issue 14): QoS 1 and QoS 2 publishers and
// persistent subscribers spread over a 3-node cluster of real plume
// processes; one node at a time is killed with SIGKILL at a random moment,
// left dead while the others keep publishing, and restarted; clients whose
// node died reconnect: "movers" to a survivor (a session that moves across
// nodes: takeover), "stickies" only to their own node once it is back (a
// restarted node's sessions: positions resumed). Checked at the end:
//
//   - every message a publisher saw acknowledged (PUBACK, or PUBREC for
//     QoS 2, with a success code) reaches every subscriber, online or
//     offline through the run (the subscribers' filter matches every topic);
//   - a second copy at QoS 1 carries DUP, unless its publisher sent it twice
//     (a resend to a new connection may be a new publication [MQTT-4.3.2-5]);
//     a QoS 2 message arrives exactly once;
//   - every persistent session resumes with Session Present, wherever its
//     client reconnects [MQTT-3.2.2-3]. A subscriber that finds its session
//     gone is reported, then subscribes again, so that the rest of the run
//     still measures delivery.
//
// A failure names each lost message (publisher#seq), when and on which node
// it was acknowledged, between which kills, and the subscriber's
// connections; with the seed that replays the kill moments and victims:
//
//	go test ./test/cluster -run TestFaultKill9 -v                      # 5 kills (make test runs it)
//	go test ./test/cluster -run TestFaultKill9 -fault.kills 30 -v      # make fault-long
//	go test ./test/cluster -run TestFaultKill9 -fault.seed 42 -v       # replay
var (
	faultKills = flag.Int("fault.kills", 5, "how many times a node is killed with SIGKILL in TestFaultKill9")
	faultSeed  = flag.Uint64("fault.seed", 0, "seed of the kill moments and victims; 0 picks one (logged, to replay)")
)

// perEpoch bounds the messages one publisher begins between two kills: it
// bounds what the offline subscriber queues and what a run costs.
const perEpoch = 60

// drainWait bounds the final wait for every owed message.
const drainWait = 120 * time.Second

// faultRun is one run: the cluster, the kills so far, and what the actors
// noted.
type faultRun struct {
	t     *testing.T
	c     *cluster
	seed  uint64
	rng   *rand.Rand // the kill moments and victims; the test goroutine's only
	order []int      // the victims left in this round of kills
	tag   string     // prefix of topics and client ids: unique per run
	began time.Time

	mu      sync.Mutex
	epoch   int // kills so far: epoch k follows kill k
	kills   []kill
	changed chan struct{} // closed and replaced when a node dies or comes back

	acks      atomic.Int64 // acknowledgements in the current epoch
	ackSignal chan struct{}
	delivered chan struct{}

	clients int           // clients made: each gets its own random source
	abort   chan struct{} // closed when the test ends: every actor returns
	wg      sync.WaitGroup

	vmu   sync.Mutex
	notes []string // violations the actors saw (sessions lost)
	// stalls and refusals are logged, not failed: neither loses anything.
	stalls, refusals []string
}

// kill is one SIGKILL: which node, when, and when it was back.
type kill struct {
	node      string
	at, back  time.Time
	acks      int64    // acknowledgements into the epoch it ended
	inFlight  []string // what each publisher had in flight
	downAcked int64    // acknowledgements while the node was down
}

func newFaultRun(t *testing.T) *faultRun {
	seed := *faultSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	f := &faultRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 14)), tag: fmt.Sprintf("fault%d", seed%1000000),
		changed: make(chan struct{}), abort: make(chan struct{}), ackSignal: make(chan struct{}, 1),
		delivered: make(chan struct{}, 1)}
	t.Logf("seed %d (replay: go test ./test/cluster -run '^%s$' -fault.seed %d -fault.kills %d -v)", seed, t.Name(), seed, *faultKills)
	// Queues unbounded: an offline session gets every message of the run,
	// and a limit that drops would read as a loss.
	f.c = newClusterConfig(t, 3, "limits:\n  max_queued: 100000000\n  max_queued_bytes: -1\n  max_queued_bytes_total: -1\n")
	t.Cleanup(func() {
		// Abort, then kill every node: an actor blocked in a read returns
		// when its connection is reset, and finds the test over.
		close(f.abort)
		f.wake()
		for _, nd := range f.c.nodes {
			if t.Failed() {
				nd.dumpGoroutines() // what each node was doing, in its log
			}
			nd.kill()
		}
		f.wg.Wait()
		if t.Failed() {
			t.Logf("replay: go test ./test/cluster -run '^%s$' -fault.seed %d -fault.kills %d -v", t.Name(), seed, *faultKills)
		}
	})
	f.began = time.Now()
	return f
}

// TestFaultKill9 is issue 14's fault test; see the comment on faultKills.
func TestFaultKill9(t *testing.T) {
	f := newFaultRun(t)
	f.c.startAll()
	w := f.setUp()

	subStop, pubStop := make(chan struct{}), make(chan struct{})
	var subsDone, pubsDone []<-chan struct{}
	for _, s := range w.online {
		subsDone = append(subsDone, f.goActor(s.name, func() error { return s.run(subStop) }))
	}
	for _, pb := range w.pubs {
		pubsDone = append(pubsDone, f.goActor(pb.name, func() error { return pb.run(pubStop) }))
	}
	for k := 1; k <= *faultKills; k++ {
		f.killAtRandom(k, w)
	}
	close(pubStop)
	for _, done := range pubsDone {
		<-done // each completes the flow it has in flight
	}
	// The offline subscriber comes back to its own node, every node up.
	for _, s := range w.offline {
		subsDone = append(subsDone, f.goActor(s.name, func() error { return s.run(subStop) }))
	}
	f.drain(w)
	close(subStop)
	for _, done := range subsDone {
		<-done
	}
	f.verdict(w)
}

// world is the run's clients.
type world struct {
	pubs    []*publisher
	online  []*subscriber // connected through the kills
	offline []*subscriber // subscribed before the first kill, back after the last
}

// setUp makes every session and subscription before the first kill: one
// QoS 1 and one QoS 2 publisher per node; a subscriber per node (5.0 and
// 3.1.1, movers and a sticky one); an offline one.
func (f *faultRun) setUp() *world {
	t := f.t
	w := &world{}
	for i := range 3 {
		for _, qos := range []byte{1, 2} {
			w.pubs = append(w.pubs, f.newPublisher(fmt.Sprintf("p%dq%d", i+1, qos), i, qos))
		}
	}
	filter := f.tag + "/data/#"
	w.online = []*subscriber{
		f.newSubscriber("s1", 0, 5, true, filter), // sticky: waits for n1 to come back
		f.newSubscriber("s2", 1, 5, false, filter),
		f.newSubscriber("s3", 2, 4, false, filter),
	}
	w.offline = []*subscriber{f.newSubscriber("o2", 1, 5, true, filter)}
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
		if _, err := pb.connect(true); err != nil {
			t.Fatal(err)
		}
	}
	// Subscriptions reach the other nodes a moment after their SUBACK
	// (decision 0052): a probe from each node's publisher must reach every
	// online subscriber before the counted run begins. Probes are messages
	// like the others, owed and checked.
	for _, pb := range w.pubs {
		if pb.qos != 1 {
			continue
		}
		deadline := time.Now().Add(waitFor)
		for {
			if err := pb.publish(); err != nil {
				t.Fatal(err)
			}
			seq := pb.count()
			all := true
			for _, s := range w.online {
				all = all && s.awaitMsg(msg{pb.name, seq}, 200*time.Millisecond)
			}
			if all {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no probe of %s (home %s) reached every subscriber within %s", pb.name, pb.homeName(), waitFor)
			}
		}
	}
	return w
}

// killAtRandom is kill k: after a random number of acknowledgements in the
// epoch (none, 15% of the time: right after the cluster re-formed) and a
// random delay, a random node gets SIGKILL; it stays dead until the
// survivors acknowledged a random number more, then restarts, and the
// cluster re-forms.
func (f *faultRun) killAtRandom(k int, w *world) {
	t := f.t
	var target int64
	if f.rng.Float64() >= 0.15 {
		target = 1 + f.rng.Int64N(2*perEpoch)
	}
	delay := time.Duration(f.rng.IntN(20_000)) * time.Microsecond
	victim := f.victim()
	downFor := 1 + f.rng.Int64N(perEpoch)
	if !f.awaitAcks(target, 2*time.Minute) {
		f.stuck(w, "epoch %d: %d acknowledgements in 2 minutes, waiting for %d: the cluster makes no progress", k-1, f.acks.Load(), target)
	}
	time.Sleep(delay) // a random moment, not a condition
	var flights []string
	for _, pb := range w.pubs {
		flights = append(flights, pb.inFlight())
	}
	// Epoch k begins as the kill is sent: an acknowledgement racing the
	// kill counts in the epoch it may be lost in.
	f.mu.Lock()
	acks := f.acks.Swap(0)
	f.epoch = k
	f.kills = append(f.kills, kill{node: victim.name, at: time.Now(), acks: acks, inFlight: flights})
	f.mu.Unlock()
	victim.kill()
	f.wake()
	t.Logf("kill %d: %s at %s, %d acknowledgements into epoch %d (waited for %d, then %v); in flight:\n  %s",
		k, victim.name, f.since(time.Now()), acks, k-1, target, delay, strings.Join(flights, "\n  "))
	// Dead until the survivors took some messages: the messages published
	// while a node is down are the ones at stake.
	if !f.awaitAcks(downFor, 2*time.Minute) {
		f.stuck(w, "kill %d: %d acknowledgements in 2 minutes with %s dead, waiting for %d: the survivors make no progress",
			k, f.acks.Load(), victim.name, downFor)
	}
	down := f.acks.Load()
	f.restart(k, victim)
	f.mu.Lock()
	f.kills[k-1].back, f.kills[k-1].downAcked = time.Now(), down
	f.mu.Unlock()
	f.wake()
	t.Logf("kill %d: %s back and the cluster formed at %s (%d acknowledged while it was dead)", k, victim.name, f.since(time.Now()), down)
}

// stuck ends a run that makes no progress, with what each actor did and
// what was noted so far.
func (f *faultRun) stuck(w *world, format string, args ...any) {
	f.t.Helper()
	f.vmu.Lock()
	notes, stalls, refusals := f.notes, f.stalls, f.refusals
	f.vmu.Unlock()
	for _, pb := range w.pubs {
		f.t.Logf("in flight: %s", pb.inFlight())
	}
	f.logSummary(w, len(owed(w.pubs)), stalls, refusals)
	for _, n := range notes {
		f.t.Logf("noted: %s", n)
	}
	f.t.Fatalf(format, args...)
}

// victim picks the node kill k ends: the kills go in rounds, each a random
// order of the nodes, so that 3 kills reach every node.
func (f *faultRun) victim() *node {
	if len(f.order) == 0 {
		f.order = f.rng.Perm(len(f.c.nodes))
	}
	nd := f.c.nodes[f.order[0]]
	f.order = f.order[1:]
	return nd
}

// restart starts the victim again as a supervisor would: a start that
// exits (a defect: a node must come back after SIGKILL) is noted for the
// verdict and tried again, 3 times at most; then the cluster re-forms.
func (f *faultRun) restart(k int, victim *node) {
	for try := 1; ; try++ {
		victim.start()
		if victim.awaitJoinedOrExit() {
			f.c.awaitFormed()
			return
		}
		f.note("START: %s exited while starting after kill %d (start %d): %s", victim.name, k, try, tail(victim.logPath, 1))
		victim.kill() // reaps the process
		if try == 3 {
			f.t.Fatalf("%s did not start in 3 tries after kill %d", victim.name, k)
		}
	}
}

// awaitJoinedOrExit waits until the node joined and serves (true) or its
// process exited (false).
func (nd *node) awaitJoinedOrExit() bool {
	t := nd.c.t
	t.Helper()
	deadline := time.NewTimer(startWait)
	defer deadline.Stop()
	for {
		nd.mu.Lock()
		ok, exited, ch := nd.joined && nd.serving == 2, nd.exited(), nd.changed
		nd.mu.Unlock()
		switch {
		case ok:
			return true
		case exited:
			return false
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s neither joined nor exited within %s of its start", nd.name, startWait)
		}
	}
}

// awaitAcks waits until the epoch has n acknowledgements.
func (f *faultRun) awaitAcks(n int64, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for f.acks.Load() < n {
		select {
		case <-f.ackSignal:
		case <-deadline.C:
			return false
		}
	}
	return true
}

func (f *faultRun) noteAck() {
	f.acks.Add(1)
	select {
	case f.ackSignal <- struct{}{}:
	default:
	}
}

func (f *faultRun) noteDelivery() {
	select {
	case f.delivered <- struct{}{}:
	default:
	}
}

// wake tells clients waiting for a node that the membership changed.
func (f *faultRun) wake() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// state is the current epoch and the channel closed on the next change.
func (f *faultRun) state() (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, f.changed
}

// since formats t as an offset from the run's start, with the wall clock.
func (f *faultRun) since(t time.Time) string {
	return fmt.Sprintf("+%.3fs (%s)", t.Sub(f.began).Seconds(), t.UTC().Format("15:04:05.000"))
}

// note records a violation an actor saw.
func (f *faultRun) note(format string, args ...any) {
	f.vmu.Lock()
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
	f.vmu.Unlock()
}

// goActor runs an actor; an error it returns fails the test (unless the
// test is over).
func (f *faultRun) goActor(name string, run func() error) <-chan struct{} {
	done := make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(done)
		if err := run(); err != nil {
			select {
			case <-f.abort:
			default:
				f.t.Errorf("%s: %v", name, err)
			}
		}
	}()
	return done
}

// drain waits until every subscriber got every message owed to it, or
// drainWait passed (the verdict then names what is missing).
func (f *faultRun) drain(w *world) {
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
		case <-f.delivered:
		case <-deadline:
			f.t.Logf("drain: not every owed message arrived within %v", drainWait)
			return
		}
	}
}
