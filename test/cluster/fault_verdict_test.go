package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxReported bounds the lines of one kind in a failure report.
const maxReported = 10

// verdict checks, after the last restart and the drain: every acknowledged
// message reached every subscriber; a second copy at QoS 1 carries DUP
// unless its publisher sent it twice; QoS 2 exactly once; every session
// resumed with Session Present (noted by the actors). A failure lists the
// lost messages with when and where they were acknowledged, per epoch.
func (f *faultRun) verdict(w *world) {
	t := f.t
	byName := map[string]*publisher{}
	for _, pb := range w.pubs {
		byName[pb.name] = pb
	}
	var report []string
	fail := func(format string, args ...any) { report = append(report, fmt.Sprintf(format, args...)) }
	all := owed(w.pubs)
	subs := append(append([]*subscriber{}, w.online...), w.offline...)
	for _, s := range subs {
		s.mu.Lock()
		var lost []string
		byEpoch := map[int]int{}
		for _, m := range all {
			if len(s.got[m]) > 0 {
				continue
			}
			pb := byName[m.pub]
			pb.mu.Lock()
			sm := pb.msgs[m.seq-1]
			pb.mu.Unlock()
			byEpoch[sm.ackEpoch]++
			if len(lost) < maxReported {
				lost = append(lost, fmt.Sprintf("%v QoS %d (sent %d×) acknowledged by %s at %s, %s",
					m, sm.qos, sm.sends, sm.ackNode, f.since(sm.ackAt), f.epochName(sm.ackEpoch)))
			}
		}
		if n := sumCounts(byEpoch); n > 0 {
			fail("LOST: %s (%s, home %s, %s) never received %d of %d acknowledged messages (by epoch: %s), e.g.\n    %s\n  its connections: %s",
				s.name, s.kind(), s.homeName(), map[bool]string{true: "sticky", false: "mover"}[s.sticky], n, len(all),
				epochCounts(byEpoch), strings.Join(lost, "\n    "), s.history())
		}
		dups := 0
		for _, m := range slices.SortedFunc(maps.Keys(s.got), compareMsg) {
			ds := s.got[m]
			pb := byName[m.pub]
			if pb == nil {
				fail("%s received %v, which no publisher of this run sent", s.name, m)
				continue
			}
			pb.mu.Lock()
			sm := pb.msgs[m.seq-1]
			pb.mu.Unlock()
			for i, d := range ds[1:] {
				bad := ""
				switch {
				case d.qos == 2 || ds[0].qos == 2:
					bad = "at QoS 2, which is exactly once"
				case !d.dup && sm.sends < 2:
					bad = "without DUP, and its publisher sent it once"
				}
				if bad != "" {
					if dups++; dups <= maxReported {
						fail("DUPLICATE: %s received %v (QoS %d, sent %d×) a %d. time %s (copies: %s)",
							s.name, m, sm.qos, sm.sends, i+2, bad, f.copies(ds))
					}
				}
			}
		}
		if dups > maxReported {
			fail("DUPLICATE: %s: %d more", s.name, dups-maxReported)
		}
		s.mu.Unlock()
	}
	f.vmu.Lock()
	for i, n := range f.notes {
		if i == maxReported*2 {
			fail("and %d more", len(f.notes)-i)
			break
		}
		fail("%s", n)
	}
	stalls, refusals := f.stalls, f.refusals
	f.vmu.Unlock()
	for _, nd := range f.c.nodes {
		nd.mu.Lock()
		if nd.raced {
			fail("RACE: %s reported a data race (its log: WARNING: DATA RACE)", nd.name)
		}
		nd.mu.Unlock()
	}

	f.logSummary(w, len(all), stalls, refusals)
	if len(report) > 0 {
		t.Errorf("seed %d, %d kills: what was acknowledged did not survive:\n%s", f.seed, *faultKills, strings.Join(report, "\n"))
	}
}

// logSummary logs the kills, what each actor did, stalls and refusals.
func (f *faultRun) logSummary(w *world, acked int, stalls, refusals []string) {
	t := f.t
	f.mu.Lock()
	for i, k := range f.kills {
		t.Logf("kill %d: %s at %s, back at %s; %d acknowledged before it in its epoch, %d while it was dead",
			i+1, k.node, f.since(k.at), f.since(k.back), k.acks, k.downAcked)
	}
	f.mu.Unlock()
	for _, pb := range w.pubs {
		pb.mu.Lock()
		n, resent, refused := 0, 0, 0
		for _, m := range pb.msgs {
			if m.acked {
				n++
			}
			if m.sends > 1 {
				resent++
			}
			if m.refused != 0 {
				refused++
			}
		}
		t.Logf("%s (QoS %d, home %s): %d sent, %d acknowledged, %d resent, %d refused; connections: %s",
			pb.name, pb.qos, pb.homeName(), len(pb.msgs), n, resent, refused, pb.history())
		pb.mu.Unlock()
	}
	for _, s := range append(append([]*subscriber{}, w.online...), w.offline...) {
		s.mu.Lock()
		t.Logf("%s (%s, home %s): %d owed, %d distinct received", s.name, s.kind(), s.homeName(), acked, len(s.got))
		s.mu.Unlock()
	}
	for i, s := range stalls {
		if i == maxReported {
			t.Logf("stalls: %d more", len(stalls)-i)
			break
		}
		t.Logf("stall (not a failure by itself): %s", s)
	}
	for i, r := range refusals {
		if i == maxReported {
			t.Logf("refusals: %d more", len(refusals)-i)
			break
		}
		t.Logf("refusal (not a failure by itself: nothing refused is owed): %s", r)
	}
}

// epochName says between which kills epoch e lies.
func (f *faultRun) epochName(e int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e == 0 {
		return "before kill 1"
	}
	k := f.kills[e-1]
	return fmt.Sprintf("after kill %d (%s at %s)", e, k.node, f.since(k.at))
}

// copies describes the copies of one message a subscriber received.
func (f *faultRun) copies(ds []delivery) string {
	var out []string
	for _, d := range ds {
		rel := "never"
		if !d.rel.IsZero() {
			rel = f.since(d.rel)
		}
		out = append(out, fmt.Sprintf("from %s at %s dup=%v qos=%d id=%d PUBREL %s", d.node, f.since(d.at), d.dup, d.qos, d.id, rel))
	}
	return strings.Join(out, "; ")
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// epochCounts formats counts per epoch: "epoch 2: 31, epoch 3: 40".
func epochCounts(m map[int]int) string {
	var parts []string
	for _, e := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("epoch %d: %d", e, m[e]))
	}
	return strings.Join(parts, ", ")
}

func compareMsg(a, b msg) int {
	if c := strings.Compare(a.pub, b.pub); c != 0 {
		return c
	}
	return a.seq - b.seq
}
