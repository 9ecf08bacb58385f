package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// The fleet scenario is issue 13's device fleet: many connections, each
// publishing one QoS 1 reading a second to its own topic fleet/<id>/reading,
// and a few back-end subscribers to fleet/+/reading at QoS 1. Every device
// has at most one message in flight; the broker's cost is per message and
// per wake-up, never amortised over a burst.

// fleetConfig sets the fleet scenario.
type fleetConfig struct {
	addr        string
	pid         int
	devices     int           // publishing connections
	subs        int           // wildcard subscribers
	period      time.Duration // between one device's readings
	concurrency int           // connections being opened at once
	connectRate int           // connections opened per second at most
	senders     int           // goroutines that write the devices' readings
	warmup      time.Duration
	window      time.Duration
	drain       time.Duration
	payload     int
}

// fleetResult is the raw outcome of the fleet scenario.
type fleetResult struct {
	connectTime time.Duration
	elapsed     time.Duration
	sentWindow  uint64 // readings published in the window
	delivered   uint64 // deliveries to the subscribers in the window
	hist        histogram
	sent        uint64 // all readings, warm-up and window
	acked       uint64
	received    uint64 // all deliveries, after the drain
	brokerCPU   time.Duration
	loadgenCPU  time.Duration
}

// fleetOffset is when within each period device i of n sends: spread evenly,
// so the broker sees a steady n/period readings a second, not a burst.
func fleetOffset(i, n int, period time.Duration) time.Duration {
	return time.Duration(int64(period) * int64(i) / int64(n))
}

// fleetTopic is device i's topic.
func fleetTopic(i int) string { return fmt.Sprintf("fleet/%d/reading", i) }

// fleetSub counts one wildcard subscriber's deliveries.
type fleetSub struct {
	c     *conn
	total atomic.Uint64
	hist  histogram
}

func (s *fleetSub) handle(h wire.Header, measuring *atomic.Bool) {
	m, ok := s.c.receive(h)
	if !ok {
		return
	}
	if measuring.Load() {
		s.hist.record(time.Duration(now() - int64(binary.BigEndian.Uint64(m.Payload))))
	}
	s.total.Add(1)
}

func runFleet(cfg fleetConfig) (res fleetResult, err error) {
	var measuring, stop atomic.Bool
	var sent, acked atomic.Uint64
	subs := make([]*fleetSub, cfg.subs)
	devices := make([]*conn, cfg.devices)
	var readers sync.WaitGroup
	defer func() {
		for _, c := range devices {
			if c != nil {
				_ = c.nc.Close()
			}
		}
		for _, s := range subs {
			if s != nil {
				_ = s.c.nc.Close()
			}
		}
		readers.Wait()
	}()

	tag := runTag() // clean sessions: see runTag
	for i := range subs {
		c, err := dial(cfg.addr, fmt.Sprintf("bench-fleet-sub-%s-%d", tag, i), keepAlive, 64<<10)
		if err != nil {
			return res, err
		}
		if err := c.subscribe("fleet/+/reading", 1); err != nil {
			c.close()
			return res, err
		}
		subs[i] = &fleetSub{c: c}
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = c.readLoop(func(h wire.Header) { subs[i].handle(h, &measuring) })
		}()
	}

	// Devices connect cfg.concurrency at a time and no faster than
	// cfg.connectRate a second.
	t0 := time.Now()
	dialer := manyDialer{workers: cfg.concurrency, rate: cfg.connectRate, start: t0, what: "device", total: cfg.devices,
		open: func(i int) error {
			c, err := dial(cfg.addr, fmt.Sprintf("bench-fleet-%s-%d", tag, i), keepAlive, 256)
			if err != nil {
				return err
			}
			devices[i] = c
			readers.Add(1)
			go func() {
				defer readers.Done()
				_ = c.readLoop(func(h wire.Header) {
					if h.Type == wire.PUBACK {
						acked.Add(1)
					}
				})
			}()
			return nil
		}}
	dialErr := dialer.run(0, cfg.devices)
	res.connectTime = time.Since(t0)
	if dialErr != nil {
		return res, dialErr
	}

	// Senders: goroutine g writes the readings of devices g, g+senders, …,
	// each when it is due on a schedule fixed in advance, stamped when it
	// is written (the sender's timer slack is not the broker's latency).
	start := now()
	var senders sync.WaitGroup
	errs := make([]error, cfg.senders)
	for g := range cfg.senders {
		senders.Add(1)
		go func() {
			defer senders.Done()
			payload := make([]byte, cfg.payload)
			var buf []byte
			for k := uint64(0); !stop.Load(); k++ {
				for i := g; i < cfg.devices && !stop.Load(); i += cfg.senders {
					due := start + int64(k)*int64(cfg.period) + int64(fleetOffset(i, cfg.devices, cfg.period))
					if d := time.Duration(due - now()); d > 0 {
						time.Sleep(d)
					}
					binary.BigEndian.PutUint64(payload[0:], uint64(now()))
					binary.BigEndian.PutUint32(payload[8:], uint32(i))
					binary.BigEndian.PutUint64(payload[12:], k)
					buf = wire.AppendPublish(buf[:0], fleetTopic(i), 1, false, uint16(k%65535)+1, payload)
					if _, err := devices[i].nc.Write(buf); err != nil {
						errs[g] = fmt.Errorf("device %d: write: %w", i, err)
						return
					}
					sent.Add(1)
				}
			}
		}()
	}

	delivered := func() (n uint64) {
		for _, s := range subs {
			n += s.total.Load()
		}
		return n
	}
	time.Sleep(cfg.warmup)
	b0, l0 := brokerCPUOf(cfg.pid), selfCPU()
	t1, s0, d0 := time.Now(), sent.Load(), delivered()
	measuring.Store(true)
	time.Sleep(cfg.window)
	measuring.Store(false)
	res.elapsed, res.sentWindow, res.delivered = time.Since(t1), sent.Load()-s0, delivered()-d0
	res.brokerCPU, res.loadgenCPU = brokerCPUOf(cfg.pid)-b0, selfCPU()-l0
	stop.Store(true)
	senders.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}

	// Drain: every reading acknowledged and delivered to every subscriber.
	want := func() uint64 { return sent.Load() * uint64(cfg.subs) }
	deadline := time.Now().Add(cfg.drain)
	for time.Now().Before(deadline) && (acked.Load() < sent.Load() || delivered() < want()) {
		time.Sleep(20 * time.Millisecond)
	}
	res.sent, res.acked, res.received = sent.Load(), acked.Load(), delivered()
	for _, s := range subs {
		_ = s.c.nc.Close()
	}
	for _, c := range devices {
		_ = c.nc.Close()
	}
	readers.Wait()
	for _, s := range subs {
		res.hist.merge(&s.hist)
	}
	return res, nil
}
