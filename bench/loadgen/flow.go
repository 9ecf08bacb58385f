package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// flowSpec describes a throughput scenario: who publishes where, who
// subscribes to what, and which subscribers receive each publisher's messages
// (the counters that pace that publisher).
type flowSpec struct {
	name     string
	pubs     int
	subs     int
	qos      byte
	topic    func(pub int) string
	filter   func(sub int) string
	receives func(pub int) []int // subscriber indexes that get pub's messages
	// persistent subscribers connect with clean session false, so a broker
	// with a durable store must store every QoS 1 message it queues for
	// them before (Plume sync) or soon after (async, mochi, Mosquitto)
	// acknowledging it.
	persistent bool
	// rate > 0 makes the scenario open loop: each publisher sends rate
	// messages a second on a fixed schedule, each written as soon as it is
	// due, whatever the broker answers (the outstanding bound still applies,
	// as a guard against a broker that stops delivering). The schedule is
	// fixed in advance, so a late send is followed by the next at once
	// rather than pushing the rest back; the payload is stamped when it is
	// written, so the load generator's own timer slack (a millisecond on
	// a loaded machine) is not charged to the broker.
	rate float64
}

// flowConfig is what the command line sets for every throughput scenario.
type flowConfig struct {
	addr        string
	pubAddrs    []string // publisher i dials pubAddrs[i%len] (cluster.go); addr when empty
	subAddrs    []string // subscriber i dials subAddrs[i%len]; addr when empty
	warmup      time.Duration
	window      time.Duration // the measured window
	drain       time.Duration // how long to wait for stragglers after publishers stop
	outstanding uint64        // max messages sent but not yet received, per publisher
	inflight    int64         // max QoS 1 publishes awaiting PUBACK, per publisher
	payload     int
	bufSize     int
	pid         int           // broker process, for its CPU time; 0 to skip
	morePids    []int         // the other processes of a clustered broker, their CPU added to pid's
	persistent  bool          // subscribers ask for persistent sessions, whatever the scenario says
	stall       time.Duration // ping-pong: a round trip not ended after this is a stall (stallTimeout if 0)
	pingRate    float64       // paced ping-pong: round trips a second per client (defaultPingRate if 0)
}

// Payload layout: send time (ns since the generator started), publisher index,
// sequence number; the rest is padding.
const payloadHeader = 20

var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// stallTimeout is how long a publisher waits for receipts that never come
// before it writes its outstanding messages off as lost and moves on.
const stallTimeout = 2 * time.Second

type bitset []uint64

func (b *bitset) set(i uint64) bool {
	w := int(i / 64)
	for w >= len(*b) {
		*b = append(*b, make([]uint64, len(*b)+1024)...)
	}
	m := uint64(1) << (i % 64)
	was := (*b)[w]&m != 0
	(*b)[w] |= m
	return !was
}

// publisher is one publishing connection and the state its pacing needs.
type publisher struct {
	idx   int
	c     *conn
	topic string
	deps  []*atomic.Uint64 // receipt counters of the subscribers that get our messages

	sent       atomic.Uint64
	writtenOff uint64 // messages declared lost after a stall; publisher goroutine only
	stalls     int

	inflight atomic.Int64
	pending  []atomic.Uint64 // packet id -> seq+1, QoS 1 only
	acked    bitset          // owned by the reader goroutine
	ackedN   atomic.Uint64

	waiting atomic.Bool
	wakeAt  atomic.Uint64
	wake    chan struct{}
}

func (p *publisher) signal() {
	if p.waiting.Load() && p.waiting.CompareAndSwap(true, false) {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *publisher) minRecv() uint64 {
	m := p.deps[0].Load()
	for _, d := range p.deps[1:] {
		if v := d.Load(); v < m {
			m = v
		}
	}
	return m
}

type subscriber struct {
	c     *conn
	qos   byte
	recv  []atomic.Uint64 // distinct messages received, per publisher
	seen  []bitset        // per publisher, QoS 1 only; owned by the reader
	dups  uint64
	total atomic.Uint64 // deliveries from all publishers
	hist  histogram
	pubs  []*publisher
}

// flowResult is the raw outcome of a throughput scenario.
type flowResult struct {
	delivered uint64 // deliveries in the measured window
	elapsed   time.Duration
	hist      histogram
	sent      uint64
	acked     uint64
	received  uint64
	lost      uint64
	dups      uint64
	stalls    int

	brokerCPU  time.Duration // CPU the broker used in the measured window, if known
	loadgenCPU time.Duration // CPU the load generator used in the measured window
}

func runFlow(spec flowSpec, cfg flowConfig) (res flowResult, err error) {
	var measuring atomic.Bool
	pubs := make([]*publisher, spec.pubs)
	subs := make([]*subscriber, spec.subs)
	var conns []*conn
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()

	// Clean clients get this run's tag (runTag); persistent subscribers
	// keep their ids, as a persistent client does.
	tag := runTag()
	clean := !spec.persistent && !cfg.persistent
	for i := range subs {
		id := fmt.Sprintf("bench-%s-sub-%d", spec.name, i)
		if clean {
			id = fmt.Sprintf("bench-%s-sub-%s-%d", spec.name, tag, i)
		}
		c, _, err := dialSession(pick(cfg.subAddrs, i, cfg.addr), id, keepAlive, cfg.bufSize, clean)
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		if err := c.subscribe(spec.filter(i), spec.qos); err != nil {
			return res, err
		}
		subs[i] = &subscriber{c: c, qos: spec.qos, recv: make([]atomic.Uint64, spec.pubs), seen: make([]bitset, spec.pubs), pubs: pubs}
	}
	for i := range pubs {
		c, err := dial(pick(cfg.pubAddrs, i, cfg.addr), fmt.Sprintf("bench-%s-pub-%s-%d", spec.name, tag, i), keepAlive, cfg.bufSize)
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		p := &publisher{idx: i, c: c, topic: spec.topic(i), wake: make(chan struct{}, 1)}
		for _, s := range spec.receives(i) {
			p.deps = append(p.deps, &subs[s].recv[i])
		}
		if spec.qos > 0 {
			p.pending = make([]atomic.Uint64, 1<<16)
		}
		pubs[i] = p
	}

	if len(cfg.pubAddrs) > 0 || len(cfg.subAddrs) > 0 {
		subConns := make([]*conn, len(subs))
		for i, s := range subs {
			subConns[i] = s.c
		}
		if err := awaitInterest(spec, cfg, subConns, 30*time.Second); err != nil {
			return res, err
		}
	}

	// Readers: one goroutine per connection, stopped by closing the socket.
	var readers sync.WaitGroup
	for _, s := range subs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = s.c.readLoop(func(h wire.Header) { s.handle(h, &measuring) })
		}()
	}
	for _, p := range pubs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = p.c.readLoop(func(h wire.Header) { p.handle(h, cfg.inflight) })
		}()
	}
	defer func() {
		for _, c := range conns {
			_ = c.nc.Close()
		}
		conns = nil
		readers.Wait()
	}()

	var stop atomic.Bool
	var writers sync.WaitGroup
	errs := make([]error, len(pubs))
	for i, p := range pubs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			errs[i] = p.run(&stop, spec.qos, spec.rate, cfg)
		}()
	}

	time.Sleep(cfg.warmup)
	delivered := func() (n uint64) {
		for _, s := range subs {
			n += s.total.Load()
		}
		return n
	}
	brokerCPU := func() time.Duration {
		if cfg.pid == 0 {
			return 0
		}
		d, _ := processCPU(cfg.pid)
		for _, pid := range cfg.morePids {
			more, _ := processCPU(pid)
			d += more
		}
		return d
	}
	b0, l0 := brokerCPU(), selfCPU()
	start, d0 := time.Now(), delivered()
	measuring.Store(true)
	time.Sleep(cfg.window)
	measuring.Store(false)
	res.elapsed, res.delivered = time.Since(start), delivered()-d0
	res.brokerCPU, res.loadgenCPU = brokerCPU()-b0, selfCPU()-l0
	stop.Store(true)
	for _, p := range pubs {
		p.signal()
	}
	writers.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}

	// Drain: wait until every sent message is acked (QoS 1) and received.
	deadline := time.Now().Add(cfg.drain)
	for time.Now().Before(deadline) {
		done := true
		for _, p := range pubs {
			if p.minRecv() < p.sent.Load() || (spec.qos > 0 && p.ackedN.Load() < p.sent.Load()) {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range conns {
		_ = c.nc.Close()
	}
	conns = nil
	readers.Wait()

	for _, s := range subs {
		res.hist.merge(&s.hist)
		res.dups += s.dups
		res.received += s.total.Load()
	}
	for _, p := range pubs {
		res.sent += p.sent.Load()
		res.stalls += p.stalls
		if spec.qos == 0 {
			for _, d := range p.deps {
				res.lost += p.sent.Load() - d.Load()
			}
			continue
		}
		res.acked += p.ackedN.Load()
		// lost = acknowledged by the broker but never delivered.
		seen := subs[spec.receives(p.idx)[0]].seen[p.idx]
		for w, word := range p.acked {
			var have uint64
			if w < len(seen) {
				have = seen[w]
			}
			res.lost += uint64(bits.OnesCount64(word &^ have))
		}
	}
	return res, nil
}

// run publishes until stop is set, keeping at most cfg.outstanding messages
// sent but not received by the slowest of its subscribers and, at QoS 1, at
// most cfg.inflight unacknowledged.
func (p *publisher) run(stop *atomic.Bool, qos byte, rate float64, cfg flowConfig) error {
	payload := make([]byte, cfg.payload)
	binary.BigEndian.PutUint32(payload[8:], uint32(p.idx))
	var sent uint64
	var pid uint16
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	lastProgress, lastLow := time.Now(), uint64(0)
	half := cfg.outstanding / 2
	start := now()

	// limit is how far sent may go before the receipt counters need reading
	// again: reading them for every message would cost 32 contended loads
	// per publish in the fanout scenario.
	var limit uint64
	blocked := func() bool {
		if sent >= limit {
			limit = p.minRecv() + p.writtenOff + cfg.outstanding
			if sent >= limit {
				return true
			}
		}
		return qos > 0 && p.inflight.Load() >= cfg.inflight
	}

	for !stop.Load() {
		if blocked() {
			if err := p.c.w.Flush(); err != nil {
				return fmt.Errorf("publisher %d: flush: %w", p.idx, err)
			}
			if base := sent - p.writtenOff; base > half {
				p.wakeAt.Store(base - half)
			} else {
				p.wakeAt.Store(0)
			}
			p.waiting.Store(true)
			if blocked() && !stop.Load() {
				timer.Reset(5 * time.Millisecond)
				select {
				case <-p.wake:
				case <-timer.C:
				}
			}
			p.waiting.Store(false)
			low := p.minRecv()
			if low != lastLow {
				lastLow, lastProgress = low, time.Now()
			} else if sent-(low+p.writtenOff) >= cfg.outstanding && time.Since(lastProgress) > stallTimeout {
				p.writtenOff = sent - low // the broker dropped them; count them at the end
				p.stalls++
				lastProgress = time.Now()
			}
			continue
		}
		if rate > 0 {
			if d := time.Duration(start + scheduled(sent, rate) - now()); d > 0 {
				time.Sleep(d)
			}
		}
		binary.BigEndian.PutUint64(payload[0:], uint64(now()))
		binary.BigEndian.PutUint64(payload[12:], sent)
		if qos > 0 {
			for {
				pid++
				if pid == 0 {
					pid = 1
				}
				if p.pending[pid].Load() == 0 {
					break
				}
			}
			p.pending[pid].Store(sent + 1)
			p.inflight.Add(1)
		}
		p.c.buf = wire.AppendPublish(p.c.buf[:0], p.topic, qos, false, pid, payload)
		if _, err := p.c.w.Write(p.c.buf); err != nil {
			return fmt.Errorf("publisher %d: write: %w", p.idx, err)
		}
		sent++
		p.sent.Store(sent)
		if rate > 0 {
			if err := p.c.w.Flush(); err != nil {
				return fmt.Errorf("publisher %d: flush: %w", p.idx, err)
			}
		}
	}
	if err := p.c.w.Flush(); err != nil {
		return fmt.Errorf("publisher %d: final flush: %w", p.idx, err)
	}
	return nil
}

// scheduled is when, after the first, message n of an open-loop publisher
// at rate messages a second is due, in nanoseconds.
func scheduled(n uint64, rate float64) int64 { return int64(float64(n) * 1e9 / rate) }

// handle processes a packet the broker sent to a publisher: PUBACKs.
func (p *publisher) handle(h wire.Header, inflightMax int64) {
	if h.Type != wire.PUBACK || p.pending == nil {
		return
	}
	id, err := wire.ParsePubAck(h.Body)
	if err != nil {
		return
	}
	seq := p.pending[id].Swap(0)
	if seq == 0 {
		return // unknown or duplicate PUBACK
	}
	p.acked.set(seq - 1)
	p.ackedN.Add(1)
	if p.inflight.Add(-1) <= inflightMax/2 {
		p.signal()
	}
}

// receive reads a PUBLISH the broker sent to a subscriber and, at QoS 1,
// acknowledges it (flushed when nothing more is buffered to read); ok is
// false for another packet or a payload too short to carry our header.
func (c *conn) receive(h wire.Header) (m wire.Publish, ok bool) {
	if h.Type != wire.PUBLISH {
		return m, false
	}
	m, err := wire.ParsePublish(h.Flags, h.Body)
	if err != nil || len(m.Payload) < payloadHeader {
		return m, false
	}
	if m.QoS > 0 {
		c.buf = wire.AppendPubAck(c.buf[:0], m.PacketID)
		_, _ = c.w.Write(c.buf)
		if c.r.Buffered() == 0 {
			_ = c.w.Flush()
		}
	}
	return m, true
}

// handle processes a packet the broker sent to a subscriber.
func (s *subscriber) handle(h wire.Header, measuring *atomic.Bool) {
	m, ok := s.c.receive(h)
	if !ok {
		return
	}
	sentAt := int64(binary.BigEndian.Uint64(m.Payload))
	pub := int(binary.BigEndian.Uint32(m.Payload[8:]))
	seq := binary.BigEndian.Uint64(m.Payload[12:])
	if pub >= len(s.recv) {
		return
	}
	if s.qos > 0 && !s.seen[pub].set(seq) {
		s.dups++
		return
	}
	if measuring.Load() {
		s.hist.record(time.Duration(now() - sentAt))
	}
	s.total.Add(1)
	p := s.pubs[pub]
	if n := s.recv[pub].Add(1); p.waiting.Load() && n >= p.wakeAt.Load() {
		p.signal()
	}
}
