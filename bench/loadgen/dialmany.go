package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// manyDialer opens numbered connections from several goroutines at once:
// the connect phase of the idle and fleet scenarios, which open thousands.
type manyDialer struct {
	workers int // connections being opened at once
	// rate is how many connections a second are opened at most, connection
	// i no sooner than start + i/rate (the broker's accept backlog is not
	// what the scenarios measure); 0 opens them as fast as they come.
	rate  int
	start time.Time
	what  string // what a connection is called in an error: "device"
	total int    // how many the scenario opens, for errors: "device 7 of 10000"
	// open dials connection i and keeps it; an error stops the dialling.
	open func(i int) error
}

// run opens connections from up to (not including) to, and returns the
// first error; once it is seen, the workers take no new connection (one
// may be opening its own meanwhile).
func (d *manyDialer) run(from, to int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if d.rate > 0 {
					due := d.start.Add(time.Duration(int64(time.Second) * int64(i) / int64(d.rate)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
				}
				if err := d.open(i); err != nil {
					once.Do(func() { first = fmt.Errorf("%s %d of %d: %w", d.what, i+1, d.total, err) })
					next.Store(int64(to)) // stop the other workers too
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
