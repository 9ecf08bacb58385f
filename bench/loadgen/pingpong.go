package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// The ping-pong scenarios (pingpong-q{0,1,2}-{1,8}) are the latency-bound
// regime of issue 13: each client subscribes to its own topic, publishes one
// message to it and waits until the message has come back through its
// subscription, and its own QoS handshake has finished, before it sends the
// next. Exactly one message is in flight per client, so the figures are the
// broker's round trip, not its queueing.

// pingSpec is one ping-pong scenario: how many clients, at which QoS (both
// the PUBLISH and the subscription), and whether paced.
type pingSpec struct {
	clients int
	qos     byte
	// paced (pingpong-qQ-N-paced): each client starts its round trips on
	// a fixed schedule (flowConfig.pingRate a second) instead of at once
	// when the last ended, so that brokers of different speeds are
	// compared at the same throughput: the closed loop gives a faster
	// broker more round trips, and with them more of the cores the load
	// generator shares with it (decision 0040).
	paced bool
}

// pingScenario parses a scenario name of the form pingpong-qQ-N or
// pingpong-qQ-N-paced.
func pingScenario(name string) (pingSpec, bool) {
	rest, ok := strings.CutPrefix(name, "pingpong-q")
	if !ok {
		return pingSpec{}, false
	}
	rest, paced := strings.CutSuffix(rest, "-paced")
	q, n, ok := strings.Cut(rest, "-")
	if !ok {
		return pingSpec{}, false
	}
	qos, err1 := strconv.Atoi(q)
	clients, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || qos < 0 || qos > 2 || clients < 1 || clients > 1000 {
		return pingSpec{}, false
	}
	return pingSpec{clients: clients, qos: byte(qos), paced: paced}, true
}

// defaultPingRate is a paced client's round trips a second unless -pingpong-rate
// says otherwise: 8 clients then make 40,000 a second, below what Plume and
// Mosquitto both reach in the closed loop on the 2-core machines of issue 13.
const defaultPingRate = 5000

// pingDue is when client i of n, paced at rate round trips a second, starts
// its round trip k (from 0), in nanoseconds after the scenario's start: the
// clients' schedules are offset evenly within one period, so that they do
// not all send at the same instant.
func pingDue(i, n int, k uint64, rate float64) int64 {
	return int64(float64(i)*1e9/(rate*float64(n))) + scheduled(k, rate)
}

// pingState is one client's round trip in progress: the message it sent and
// which of the events that end the round trip have happened. It holds no
// connection, so its bookkeeping can be tested packet by packet.
type pingState struct {
	idx    uint32
	qos    byte
	seq    uint64
	pid    uint16
	sentAt int64 // now() when the PUBLISH was written

	delivered bool // our message came back through the subscription
	acked     bool // QoS 1: PUBACK; QoS 2: PUBCOMP for our PUBLISH
	released  bool // QoS 2: the broker's PUBREL for its delivery to us

	latency time.Duration // send to delivery, once delivered
	stray   uint64        // deliveries of other or earlier messages
}

// next starts the next round trip: it returns the PUBLISH to write, its
// payload stamped with the send time, client index and sequence number.
func (s *pingState) next(b []byte, topic string, payload []byte, at int64) []byte {
	s.seq++
	s.pid++
	if s.pid == 0 {
		s.pid = 1
	}
	s.sentAt = at
	s.delivered, s.acked, s.released = false, s.qos == 0, s.qos < 2
	binary.BigEndian.PutUint64(payload[0:], uint64(at))
	binary.BigEndian.PutUint32(payload[8:], s.idx)
	binary.BigEndian.PutUint64(payload[12:], s.seq)
	var pid uint16
	if s.qos > 0 {
		pid = s.pid
	}
	return wire.AppendPublish(b, topic, s.qos, false, pid, payload)
}

// waitingFor names every event a round trip that has not ended still
// waits for, in a fixed order: a stall that got the broker's
// acknowledgement of our publish but not the delivery is the broker
// dropping an accepted message, one that got neither is a stalled broker
// or connection.
func (s *pingState) waitingFor() string {
	var missing []string
	if !s.delivered {
		missing = append(missing, "delivery")
	}
	if !s.acked {
		missing = append(missing, "ack of our publish")
	}
	if !s.released {
		missing = append(missing, "PUBREL of the delivery")
	}
	return strings.Join(missing, " + ")
}

// complete reports whether the round trip has ended: delivered, and every
// acknowledgement in both directions received.
func (s *pingState) complete() bool { return s.delivered && s.acked && s.released }

// handle takes one packet from the broker at time at and appends to out what
// the client must answer (PUBACK, PUBREC, PUBREL, PUBCOMP).
func (s *pingState) handle(h wire.Header, at int64, out []byte) ([]byte, error) {
	switch h.Type {
	case wire.PUBLISH:
		m, err := wire.ParsePublish(h.Flags, h.Body)
		if err != nil {
			return out, err
		}
		switch m.QoS {
		case 1:
			out = wire.AppendPubAck(out, m.PacketID)
		case 2:
			out = wire.AppendPubRec(out, m.PacketID)
		}
		if len(m.Payload) < payloadHeader ||
			binary.BigEndian.Uint32(m.Payload[8:]) != s.idx || binary.BigEndian.Uint64(m.Payload[12:]) != s.seq || s.delivered {
			s.stray++ // an earlier round trip's, after a stall, or a duplicate
			return out, nil
		}
		s.delivered = true
		s.latency = time.Duration(at - int64(binary.BigEndian.Uint64(m.Payload)))
	case wire.PUBACK, wire.PUBCOMP, wire.PUBREC, wire.PUBREL:
		id, err := wire.ParsePubAck(h.Body)
		if err != nil {
			return out, err
		}
		switch {
		case h.Type == wire.PUBREL:
			// The broker's delivery to us at QoS 2 is done once we
			// answer; any PUBREL counts, as the round trip's delivery
			// is the only one outstanding.
			out = wire.AppendPubComp(out, id)
			if s.delivered {
				s.released = true
			}
		case id != s.pid:
			// an earlier round trip's acknowledgement, after a stall
		case h.Type == wire.PUBREC && s.qos == 2:
			out = wire.AppendPubRel(out, id)
		case h.Type == wire.PUBACK && s.qos == 1, h.Type == wire.PUBCOMP && s.qos == 2:
			s.acked = true
		}
	}
	return out, nil
}

// pingResult is the raw outcome of a ping-pong scenario.
type pingResult struct {
	roundTrips uint64 // completed in the window
	elapsed    time.Duration
	hist       histogram
	sent       uint64
	completed  uint64
	stray      uint64
	stalls     int
	stalledOn  map[string]int // what the stalled round trips were waiting for
	brokerCPU  time.Duration
	loadgenCPU time.Duration
	// The broker's scheduler statistics at the window's start and end
	// (schedOK: both read).
	sched0, sched1 schedStat
	schedOK        bool
}

// runPingPong runs spec for cfg's warm-up and window: one goroutine per
// client both writes and reads, so the load generator adds no hand-off of
// its own to the round trip.
func runPingPong(spec pingSpec, cfg flowConfig) (res pingResult, err error) {
	var measuring, stop atomic.Bool
	var completed atomic.Uint64
	conns := make([]*conn, spec.clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	tag := runTag()
	for i := range conns {
		c, err := dial(cfg.addr, fmt.Sprintf("bench-pingpong-%s-%d", tag, i), keepAlive, 4096)
		if err != nil {
			return res, err
		}
		conns[i] = c
		if err := c.subscribe(fmt.Sprintf("bench/ping/%d", i), spec.qos); err != nil {
			return res, err
		}
	}

	type clientOut struct {
		hist        histogram
		sent, stray uint64
		inWindow    uint64 // round trips recorded in hist
		stalls      int
		stalledOn   map[string]int
		err         error
	}
	outs := make([]clientOut, len(conns))
	stall := cfg.stall
	if stall == 0 {
		stall = stallTimeout
	}
	rate := cfg.pingRate
	if rate <= 0 {
		rate = defaultPingRate
	}
	begin := now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[i]
			st := pingState{idx: uint32(i), qos: spec.qos}
			topic := fmt.Sprintf("bench/ping/%d", i)
			payload := make([]byte, cfg.payload)
			var rbuf []byte
			for k := uint64(0); !stop.Load(); k++ {
				if spec.paced {
					// A fixed schedule: a late round trip does not
					// push the next ones back (as fanout-paced).
					if d := begin + pingDue(i, len(conns), k, rate) - now(); d > 0 {
						time.Sleep(time.Duration(d))
					}
				}
				c.buf = st.next(c.buf[:0], topic, payload, now())
				o.sent++
				if _, err := c.nc.Write(c.buf); err != nil {
					o.err = fmt.Errorf("client %d: write: %w", i, err)
					return
				}
				_ = c.nc.SetReadDeadline(time.Now().Add(stall))
				for !st.complete() {
					h, b, err := wire.Read(c.r, rbuf)
					rbuf = b
					if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
						o.stalls++ // lost or very late: start a new round trip
						if o.stalledOn == nil {
							o.stalledOn = map[string]int{}
						}
						o.stalledOn[st.waitingFor()]++
						break
					}
					if err != nil {
						o.err = fmt.Errorf("client %d: read: %w", i, err)
						return
					}
					at := now()
					c.buf, err = st.handle(h, at, c.buf[:0])
					if err != nil {
						o.err = fmt.Errorf("client %d: %w", i, err)
						return
					}
					if len(c.buf) > 0 {
						if _, err := c.nc.Write(c.buf); err != nil {
							o.err = fmt.Errorf("client %d: write ack: %w", i, err)
							return
						}
					}
				}
				if st.complete() {
					// One gate decides both counting and recording, so
					// the window's round trips and its latencies agree
					// (a shared counter read at the window's end raced
					// with a client between the two).
					if measuring.Load() {
						o.hist.record(st.latency)
						o.inWindow++
					}
					completed.Add(1)
				}
			}
			o.stray = st.stray
		}()
	}

	time.Sleep(cfg.warmup)
	b0, l0 := brokerCPUOf(cfg.pid), selfCPU()
	s0, ok0 := brokerSchedOf(cfg.pid)
	start := time.Now()
	measuring.Store(true)
	time.Sleep(cfg.window)
	measuring.Store(false)
	res.elapsed = time.Since(start)
	res.brokerCPU, res.loadgenCPU = brokerCPUOf(cfg.pid)-b0, selfCPU()-l0
	s1, ok1 := brokerSchedOf(cfg.pid)
	res.sched0, res.sched1, res.schedOK = s0, s1, ok0 && ok1
	stop.Store(true)
	wg.Wait()
	var errs []error
	for i := range outs {
		res.hist.merge(&outs[i].hist)
		res.sent += outs[i].sent
		res.roundTrips += outs[i].inWindow
		res.stray += outs[i].stray
		res.stalls += outs[i].stalls
		for k, n := range outs[i].stalledOn {
			if res.stalledOn == nil {
				res.stalledOn = map[string]int{}
			}
			res.stalledOn[k] += n
		}
		errs = append(errs, outs[i].err)
	}
	res.completed = completed.Load()
	return res, errors.Join(errs...)
}

// brokerCPUOf is the broker's CPU time so far, or 0 without a pid.
func brokerCPUOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	d, _ := processCPU(pid)
	return d
}
