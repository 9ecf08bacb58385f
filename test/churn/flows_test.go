package churn

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// reader is an actor on the receiving side: it reads until stop is closed,
// then drains what it is owed; rng is its own random source.
type reader func(stop <-chan struct{}, rng *rand.Rand) error

// subscribers makes readers of subs; done says when one has all it is owed.
func subscribers(subs []*subscriber, done func(*subscriber) bool) []reader {
	var rs []reader
	for _, s := range subs {
		rs = append(rs, func(stop <-chan struct{}, rng *rand.Rand) error { return s.run(stop, rng, done) })
	}
	return rs
}

// churn runs the publishers for -churn.duration while the readers read,
// then lets the readers drain. An actor's error fails the test. It returns
// how many messages the publishers had acknowledged.
func churn(tg *target, pubs []*publisher, readers []reader) int {
	stopPubs, stopSubs := make(chan struct{}), make(chan struct{})
	var pw, sw sync.WaitGroup
	for _, r := range readers {
		sw.Add(1)
		go func(r reader, rng *rand.Rand) {
			defer sw.Done()
			if err := r(stopSubs, rng); err != nil {
				tg.t.Error(err)
			}
		}(r, tg.rand())
	}
	for _, pb := range pubs {
		pw.Add(1)
		go func(pb *publisher, rng *rand.Rand) {
			defer pw.Done()
			if err := pb.run(stopPubs, rng); err != nil {
				tg.t.Error(err)
			}
		}(pb, tg.rand())
	}
	time.Sleep(*duration) // the scenario's length: nothing to await
	close(stopPubs)
	pw.Wait()
	close(stopSubs)
	sw.Wait()
	n := 0
	for _, pb := range pubs {
		n += len(pb.acked)
	}
	return n
}

// checkLoss fails for each acknowledged message of pubs that no subscriber of
// one receiving set got. A broker that counted drops (a queue limit) may have
// lost up to that many; the in-process broker's limits are set high enough
// that it should drop none.
func checkLoss(tg *target, property string, pubs []*publisher, receivers ...*subscriber) {
	lost := missing(pubs, receivers...)
	if len(lost) == 0 {
		return
	}
	if d := tg.dropped(); d > 0 && int64(len(lost)) <= d {
		tg.t.Logf("%d acknowledged messages missing, within the %d the broker counted as dropped", len(lost), d)
		return
	}
	names := ""
	for i, m := range lost {
		if i == 5 {
			names += " ..."
			break
		}
		names += fmt.Sprintf(" %s/%d", m.pub, m.seq)
	}
	tg.violation(property, "%d acknowledged messages never arrived:%s", len(lost), names)
}

// checkResent fails for each message a subscriber left unacknowledged that
// never came again.
func checkResent(tg *target, subs ...*subscriber) {
	for _, s := range subs {
		for m, id := range s.recheck {
			tg.violation(propResend, "%s left %v (id %d) unacknowledged and never got it again", s.id, m, id)
		}
	}
}

// Persistent subscribers of both versions and both QoS levels reset at every
// point of the QoS 1 and 2 flows, while publishers at QoS 1 and 2 reset mid
// flow too. Every acknowledged message reaches every subscriber, QoS 2 ones
// exactly once, in each publisher's order, at min(published, granted) QoS;
// what was left unacknowledged comes again with DUP and its packet id; every
// resume reports Session Present.
func TestSubscribersResetThroughQoSFlows(t *testing.T) {
	tg := newTarget(t)
	pubs := newPublishers(tg, 0.05, func(name string) string { return tg.tag + "/flows/" + name },
		pubSpec{"p1", 5, 1}, pubSpec{"p2", 5, 2}, pubSpec{"p3", 4, 2})
	var subs []*subscriber
	for _, c := range []struct {
		version byte
		qos     byte
	}{{5, 1}, {5, 2}, {4, 1}, {4, 2}} {
		s := newSubscriber(tg, fmt.Sprintf("s-v%d-q%d", c.version, c.qos), c.version, 300, c.qos)
		s.resetP = 0.05
		if _, err := s.connect(true); err != nil {
			t.Fatal(err)
		}
		if err := s.subscribe(c.qos, tg.tag+"/flows/#"); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	// Done once it has everything and got again what it left
	// unacknowledged: having a message does not mean its redelivery came
	// (it was delivered before the reset), and stopping there failed
	// checkResent now and then under the race detector.
	n := churn(tg, pubs, subscribers(subs, func(s *subscriber) bool { return s.hasAll(pubs) && len(s.recheck) == 0 }))
	for _, s := range subs {
		checkLoss(tg, propLost, pubs, s)
	}
	checkResent(tg, subs...)
	t.Logf("%d acknowledged messages, %d subscribers", n, len(subs))
}

func tgNow() time.Time                  { return time.Now() }
func tgSince(t time.Time) time.Duration { return time.Since(t) }
