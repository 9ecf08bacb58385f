package main

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/bench/internal/wire"
)

// The idle-ping scenario: the idle scenario's connections, each sending a
// PINGREQ every pingEvery (spread evenly, as a fleet's keep-alives are) and
// expecting its PINGRESP. A fleet's devices ping far more often than they
// publish; what a broker holds for a connection between two pings, and the
// CPU the pings cost it, is what a real idle fleet costs (decision 0047).

// pinger sends the PINGREQs and counts the answers.
type pinger struct {
	every time.Duration
	pings atomic.Int64 // PINGREQs written
	pongs atomic.Int64 // PINGRESPs read
	fails atomic.Int64 // PINGREQs the socket refused
}

// pingReq is a PINGREQ packet.
var pingReq = wire.AppendFixedHeader(nil, wire.PINGREQ, 0, 0)

// keepAliveFor is the keep-alive a pinging connection announces: twice its
// ping period, so that a ping a loaded load generator sends late never
// costs the connection (brokers close at 1.5 x keep-alive).
func keepAliveFor(every time.Duration) uint16 {
	s := int64(2 * ((every + time.Second - 1) / time.Second))
	return uint16(min(max(s, 1), 65535))
}

// run pings conns until stop closes: connection i at start + i·every/n,
// then every `every`.
func (p *pinger) run(conns []*conn, stop <-chan struct{}) {
	n := len(conns)
	start := time.Now()
	for k := int64(0); ; k++ {
		due := start.Add(time.Duration(k * int64(p.every) / int64(n)))
		if wait := time.Until(due); wait > time.Millisecond {
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
		}
		c := conns[k%int64(n)]
		if c == nil {
			continue
		}
		if _, err := c.nc.Write(pingReq); err != nil {
			p.fails.Add(1)
			continue
		}
		p.pings.Add(1)
	}
}

// readPongs reads c until it fails, counting PINGRESPs; anything else a
// broker sends an idle connection is an error of the run.
func (p *pinger) readPongs(c *conn) error {
	for {
		h, _, err := wire.Read(c.r, nil)
		if err != nil {
			return err
		}
		if h.Type != wire.PINGRESP {
			return fmt.Errorf("idle connection got packet type %d", h.Type)
		}
		p.pongs.Add(1)
	}
}

// awaitPongs waits up to d for every ping sent to be answered.
func (p *pinger) awaitPongs(d time.Duration) {
	deadline := time.Now().Add(d)
	for p.pongs.Load() < p.pings.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// pingPhase pings every connection for cfg.pingFor, then reads the broker's
// RSS (settled as stableRSS does) and its CPU over the phase.
func pingPhase(cfg idleConfig, p *pinger, conns []*conn, res *idleResult) (after int64, readings []int64, err error) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); p.run(conns, stop) }()
	defer func() {
		close(stop)
		<-done
		p.awaitPongs(5 * time.Second)
		res.pings, res.pongs, res.pingFails = p.pings.Load(), p.pongs.Load(), p.fails.Load()
	}()
	cpu0, err := processCPU(cfg.pid)
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	time.Sleep(cfg.pingFor)
	after, readings, err = stableRSS(cfg.pid, cfg.settle)
	if err != nil {
		return 0, readings, err
	}
	cpu1, err := processCPU(cfg.pid)
	if err != nil {
		return 0, readings, err
	}
	res.pingWindow, res.brokerCPU = time.Since(t0), cpu1-cpu0
	return after, readings, nil
}

// isClosed tells our own close at the end of a run from the broker's.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
