package crash

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// retainedWait bounds the wait for the retained values.
const retainedWait = 20 * time.Second

// readRetained subscribes a new session to the retained topics and returns
// the retained value of each topic. It waits for a value on every topic
// that must have one, then for a PINGRESP: the broker sends a SUBSCRIBE's
// retained messages before it answers the client's next packet.
func readRetained(t *testing.T, h *harness) map[string]msg {
	T := h.tag
	r := newPeer(h, "rcheck", 5, 0)
	if _, err := r.connect(true); err != nil {
		t.Fatal(err)
	}
	defer r.drop()
	if err := r.subscribe(1, T+"/ret/+", T+"/exp/ret/+"); err != nil {
		t.Fatal(err)
	}
	got := map[string]msg{}
	take := func(p *wire.Packet) error {
		if p.Type != wire.PUBLISH || !p.Retain {
			return fmt.Errorf("rcheck: got %v, want retained messages", p)
		}
		m, err := parsePayload(p.Payload)
		if err != nil {
			return err
		}
		got[p.Topic] = m
		if p.QoS == 1 {
			return r.send(r.ack(wire.PUBACK, p.PacketID))
		}
		return nil
	}
	complete := func() bool {
		for k := range retTopics {
			if _, ok := got[T+"/ret/"+strconv.Itoa(k)]; !ok {
				return false
			}
		}
		_, ok := got[T+"/exp/ret/keep"]
		return ok
	}
	deadline := time.Now().Add(retainedWait)
	for !complete() {
		p, err := r.conn.Read(time.Until(deadline))
		if errors.Is(err, wire.ErrTimeout) {
			t.Logf("rcheck: not every retained topic has a value after %v", retainedWait)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := take(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.send(wire.Pingreq()); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.conn.Read(ioWait)
		if err != nil {
			t.Fatalf("rcheck: waiting for PINGRESP: %v", err)
		}
		if p.Type == wire.PINGRESP {
			return got
		}
		if err := take(p); err != nil {
			t.Fatal(err)
		}
	}
}

// maxReported bounds the lines of one kind in a failure report.
const maxReported = 8

// verdict checks, after the last restart and the drain:
//   - every message a publisher saw acknowledged reached every session
//     subscribed to its topic, online and offline;
//   - a second copy at QoS 1 carries DUP, unless the publisher itself sent
//     the message twice (a QoS 1 resend after a kill may be taken as a new
//     publication [MQTT-4.3.2-5]); a QoS 2 message arrives exactly once;
//   - the retained value of each topic is the last acknowledged or a later
//     one sent;
//   - expired messages, retained values and sessions are gone;
//   - and what the run recorded: Session Present on every resume.
func verdict(t *testing.T, h *harness, w *world, retained map[string]msg) {
	byName := map[string]*publisher{}
	acked := 0
	for _, pb := range w.pubs {
		byName[pb.name] = pb
		for _, m := range pb.msgs {
			if m.acked {
				acked++
			}
		}
	}
	var report []string
	fail := func(format string, args ...any) { report = append(report, fmt.Sprintf(format, args...)) }

	for _, s := range append(append([]*subscriber{}, w.online...), w.offline...) {
		var lost []string
		byLife := map[int]int{}
		for _, m := range s.owed(w.pubs) {
			if len(s.got[m]) > 0 {
				continue
			}
			pb := byName[m.pub]
			sm := pb.msgs[m.seq-1]
			byLife[sm.ackLife]++
			if len(lost) < maxReported {
				lost = append(lost, fmt.Sprintf("%v (QoS %d to %s, sent %d×) acknowledged with 0x%02x %s%s",
					m, sm.qos, sm.topic, sm.sends, sm.reason, h.describe(sm.ackLife), w.inFlightAt(m, sm.ackLife)))
			}
		}
		if n := sum(byLife); n > 0 {
			fail("LOST: %s (%s) never received %d acknowledged messages (by the life they were acknowledged in: %s; PUBRELs for ids it did not await, by life: %s), e.g.\n    %s",
				s.name, s.kind(), n, lives(byLife), lives(s.strayRels), strings.Join(lost, "\n    "))
		}
		dups := 0
		for _, m := range slices.SortedFunc(maps.Keys(s.got), byMsg) {
			ds := s.got[m]
			pb := byName[m.pub]
			if pb == nil {
				fail("%s received %v, which no publisher of this run sent", s.name, m)
				continue
			}
			sm := pb.msgs[m.seq-1]
			if sm.expiry > 0 {
				fail("EXPIRED: %s received %v (Message Expiry %d s), which expired while the broker was down", s.name, m, sm.expiry)
			}
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
						fail("DUPLICATE: %s received %v a %d. time %s (copies in lives %v)", s.name, m, i+2, bad, copyLives(ds))
					}
				}
			}
		}
		if dups > maxReported {
			fail("DUPLICATE: %s: %d more", s.name, dups-maxReported)
		}
	}

	T := h.tag
	for k := range retTopics {
		topic := T + "/ret/" + strconv.Itoa(k)
		last, latest := 0, 0
		for i, m := range w.pr.msgs {
			if m.topic == topic {
				latest = i + 1
				if m.acked {
					last = i + 1
				}
			}
		}
		got, ok := retained[topic]
		switch {
		case !ok:
			fail("RETAINED: %s has no retained value; the last acknowledged is %s#%d", topic, w.pr.name, last)
		case got.pub != w.pr.name || got.seq < last || got.seq > latest || w.pr.msgs[got.seq-1].topic != topic:
			fail("RETAINED: %s holds %v; want %s#%d, the last acknowledged, or a later one sent to it (up to #%d)",
				topic, got, w.pr.name, last, latest)
		}
	}
	for _, k := range []string{"0", "1"} {
		if m, ok := retained[T+"/exp/ret/"+k]; ok {
			fail("EXPIRED: %s/exp/ret/%s still holds %v, retained with Message Expiry %d s", T, k, m, expirySecs)
		}
	}
	if _, ok := retained[T+"/exp/ret/keep"]; !ok {
		fail("RETAINED: %s/exp/ret/keep lost its retained value (no expiry)", T)
	}

	h.vmu.Lock()
	for _, name := range slices.Sorted(maps.Keys(h.lost)) {
		fail("SESSION: %s resumed without Session Present, its session lost, in lives %v (life k+1 follows kill k; life %d the clean restart)",
			name, h.lost[name], h.cleanLife)
	}
	if h.raced {
		fail("RACE: the broker reported a data race (its log: WARNING: DATA RACE)")
	}
	for i, v := range h.violations {
		if i == maxReported*2 {
			fail("and %d more", len(h.violations)-i)
			break
		}
		fail("%s", v)
	}
	h.vmu.Unlock()

	t.Logf("%d kills with SIGKILL, then a clean restart; %d messages acknowledged", *kills, acked)
	for _, s := range append(append([]*subscriber{}, w.online...), w.offline...) {
		t.Logf("%s (%s): %d owed, %d received", s.name, s.kind(), len(s.owed(w.pubs)), len(s.got))
	}
	if len(report) > 0 {
		t.Errorf("seed %d, %d kills: what was acknowledged did not survive:\n%s", h.seed, *kills, strings.Join(report, "\n"))
	}
}

// inFlightAt says whether m was the message in flight at the kill that
// ended the life it was acknowledged in.
func (w *world) inFlightAt(m msg, life int) string {
	if f, ok := w.flights[life]; ok && f[m.pub] == m.seq {
		return fmt.Sprintf(", in flight at kill %d", life)
	}
	return ""
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// lives formats counts per life: "life 2: 31, life 3: 40".
func lives(m map[int]int) string {
	var parts []string
	for _, l := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("life %d: %d", l, m[l]))
	}
	return strings.Join(parts, ", ")
}

func copyLives(ds []delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%d(dup=%v qos=%d)", d.life, d.dup, d.qos))
	}
	return out
}

func byMsg(a, b msg) int {
	if c := strings.Compare(a.pub, b.pub); c != 0 {
		return c
	}
	return a.seq - b.seq
}
