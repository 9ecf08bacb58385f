package churn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// racers is how many connections race for one client id at a time.
const racers = 4

// stormer is one client id with a persistent session that several
// connections race for, each taking the session over from the last. The
// client side of the session (what was delivered, QoS 2 ids awaiting PUBREL)
// is one, shared by the racers, as it is for a device that reconnects
// before it noticed its old connection die.
type stormer struct {
	*subscriber // the session's client side; its own peer drains at the end

	mu sync.Mutex // guards the fields below and subscriber.inbound while racers run
	// gen numbers connection attempts; a racer whose number is no longer
	// the newest ignores what it reads, as a client ignores a connection it
	// replaced: the broker sends what it left unanswered again on the new one.
	gen       int
	connects  int
	takeovers int // connections the broker ended: another racer took the session
	lostRace  int // connections the broker ended before their CONNACK
}

// run races for the session until stop is closed, then drains on one
// connection until done.
func (st *stormer) run(stop <-chan struct{}, rng *rand.Rand, done func(*subscriber) bool) error {
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			if err := st.race(stop, rng); err != nil {
				errs <- err
			}
		}(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return st.subscriber.run(stop, nil, done)
}

// race connects to the session again and again, holds each connection for
// up to 20 ms unless another racer takes it over first, and ends it with
// DISCONNECT, a TCP reset or a close.
func (st *stormer) race(stop <-chan struct{}, rng *rand.Rand) error {
	p := &peer{tg: st.tg, id: st.id, version: st.version, expiry: st.expiry, ends: rng}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		st.mu.Lock()
		st.gen++
		my := st.gen
		st.mu.Unlock()
		present, err := p.dial(false)
		if errors.Is(err, wire.ErrClosed) {
			st.mu.Lock()
			st.lostRace++ // taken over before its CONNACK
			st.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		if !present {
			st.tg.violation(propPresent, "%s took its session over without Session Present", st.id)
		}
		kicked, err := st.serve(p, my, time.Now().Add(time.Duration(rng.IntN(20))*time.Millisecond), rng)
		if err != nil {
			return err
		}
		st.mu.Lock()
		st.connects++
		if kicked {
			st.takeovers++
		}
		st.mu.Unlock()
	}
}

// serve reads and answers on one racer's connection until the broker ends
// it (kicked: a takeover) or hold passes. Once a newer racer has begun to
// connect, it reads on but answers nothing, as a client that gave up on the
// connection but whose socket the broker has not closed yet.
func (st *stormer) serve(p *peer, my int, hold time.Time, rng *rand.Rand) (kicked bool, err error) {
	for {
		left := time.Until(hold)
		if left <= 0 {
			if rng.IntN(3) == 0 {
				_ = p.send(wire.Disconnect(p.version, 0, nil)) // a failed write: the broker ended it first
			}
			p.reset()
			return false, nil
		}
		pk, err := p.conn.Read(left)
		if errors.Is(err, wire.ErrTimeout) {
			continue
		}
		if errors.Is(err, wire.ErrClosed) {
			_ = p.conn.Close()
			p.conn = nil
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: read: %w", p.id, err)
		}
		st.mu.Lock()
		if st.gen != my {
			st.mu.Unlock()
			continue
		}
		if pk.Type == wire.DISCONNECT {
			st.mu.Unlock()
			if pk.ReasonCode != sessionTakenOver {
				return false, fmt.Errorf("%s: DISCONNECT %#x from the broker", p.id, pk.ReasonCode)
			}
			continue // [MQTT-3.1.4-3] the broker closes the connection next
		}
		a, _, err := st.take(pk)
		st.mu.Unlock()
		if err != nil {
			return false, err
		}
		if a != nil {
			if err := p.send(a); errors.Is(err, wire.ErrClosed) {
				_ = p.conn.Close()
				p.conn = nil
				return true, nil
			} else if err != nil {
				return false, err
			}
		}
	}
}

// sessionTakenOver is the 5.0 DISCONNECT reason a replaced connection gets.
const sessionTakenOver = 0x8E

// Connections race for three client ids (5.0 and 3.1.1) with persistent
// sessions, each taking the session over from the last, hundreds of times
// per id, while publishers send QoS 1 and 2 messages and reset mid-flow.
// Every acknowledged message reaches every session, QoS 2 ones exactly once,
// in order; every takeover reports Session Present; when every client has
// gone, the broker counts no connected client.
func TestTakeoverStormsKeepPersistentSessions(t *testing.T) {
	tg := newTarget(t)
	pubs := newPublishers(tg, 0.02, func(name string) string { return tg.tag + "/storm/" + name },
		pubSpec{"tp1", 5, 2}, pubSpec{"tp2", 4, 1}, pubSpec{"tp3", 5, 1})
	var storms []*stormer
	var rs []reader
	done := func(s *subscriber) bool { return s.hasAll(pubs) }
	for _, c := range []struct {
		version byte
		qos     byte
	}{{5, 2}, {4, 2}, {5, 1}} {
		st := &stormer{subscriber: newSubscriber(tg, fmt.Sprintf("st-v%d-q%d", c.version, c.qos), c.version, 300, c.qos)}
		if _, err := st.connect(true); err != nil {
			t.Fatal(err)
		}
		if err := st.subscribe(c.qos, tg.tag+"/storm/#"); err != nil {
			t.Fatal(err)
		}
		st.reset() // the racers take it from here
		storms = append(storms, st)
		rs = append(rs, func(stop <-chan struct{}, rng *rand.Rand) error { return st.run(stop, rng, done) })
	}
	n := churn(tg, pubs, rs)
	for _, st := range storms {
		checkLoss(tg, propLost, pubs, st.subscriber)
		t.Logf("%s: %d connects, %d of them takeovers, %d connections ended before their CONNACK",
			st.id, st.connects, st.takeovers, st.lostRace)
		// Runs give hundreds; ten is a margin that a busy machine still clears
		// while a scenario that never stormed does not.
		if st.takeovers < 10 && *duration >= time.Second {
			t.Errorf("%s: only %d takeovers: the scenario did not storm", st.id, st.takeovers)
		}
	}
	t.Logf("%d acknowledged messages", n)
	checkConnectedCount(tg, 0)
}

// checkConnectedCount awaits the in-process broker's ClientsConnected
// reaching want, the number of connections the clients still hold: a
// takeover that counted a connection twice, or none, leaves it off.
func checkConnectedCount(tg *target, want int) {
	tg.t.Helper()
	if tg.plume == nil {
		return
	}
	deadline := time.Now().Add(settle)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for got := tg.plume.Stats().ClientsConnected; got != want; got = tg.plume.Stats().ClientsConnected {
		if time.Now().After(deadline) {
			tg.t.Errorf("ClientsConnected is %d %v after the clients left, want %d", got, settle, want)
			return
		}
		<-tick.C
	}
}
