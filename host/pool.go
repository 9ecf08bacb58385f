package host

import (
	"context"
	"sync/atomic"
	"time"
)

// pool holds a module's instances: size tokens, each one an idle instance in
// a cell, a spare (the right to make an instance: at start-up, after a trap
// discarded one), or held by a call in flight. Many publishers call the same
// plugin at once, so taking and giving back an instance is a compare-and-swap
// on a cell of its own cache line, not a channel operation behind a lock
// (which cost a third of a transform call under load). Only a caller that
// finds neither an idle instance nor a spare waits, on a channel.
type pool struct {
	cells   []cell
	spare   atomic.Int32
	waiters atomic.Int32
	wake    chan struct{} // a token per release seen by a waiter
}

// cell is one pool slot, padded to a cache line so that two cores taking
// instances from neighbouring cells do not contend for one line.
type cell struct {
	p atomic.Pointer[instance]
	_ [56]byte
}

func newPool(size int) *pool {
	p := &pool{cells: make([]cell, size), wake: make(chan struct{}, size)}
	p.spare.Store(int32(size))
	return p
}

// take returns an idle instance, or nil if there is none.
func (p *pool) take() *instance {
	for i := range p.cells {
		c := &p.cells[i].p
		if inst := c.Load(); inst != nil && c.CompareAndSwap(inst, nil) {
			return inst
		}
	}
	return nil
}

// takeSpare reports whether the caller got a spare token: it makes an
// instance, and gives the token back with giveSpare if that fails.
func (p *pool) takeSpare() bool {
	for {
		n := p.spare.Load()
		if n <= 0 {
			return false
		}
		if p.spare.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// put makes inst idle. There is always an empty cell: at most size tokens
// exist and the caller holds one.
func (p *pool) put(inst *instance) {
	for {
		for i := range p.cells {
			if p.cells[i].p.CompareAndSwap(nil, inst) {
				p.signal()
				return
			}
		}
	}
}

// giveSpare returns a token without an instance (a discarded one's).
func (p *pool) giveSpare() {
	p.spare.Add(1)
	p.signal()
}

// signal wakes a waiter, if any. A waiter counts itself before it looks at
// the cells again, and a release fills a cell before it reads the count, so
// either the waiter sees the instance or the release sees the waiter.
func (p *pool) signal() {
	if p.waiters.Load() > 0 {
		select {
		case p.wake <- struct{}{}:
		default: // tokens are pending already; their waiters will look again
		}
	}
}

// wait blocks until a release may have freed a token, ctx ends or expired
// fires. The caller has counted itself in waiters and looked at the cells
// since.
func (p *pool) wait(ctx context.Context, expired <-chan time.Time) error {
	select {
	case <-p.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return ErrBusy
	}
}

// wakeAll wakes every waiter, so that they see a retirement.
func (p *pool) wakeAll() {
	for n := p.waiters.Load(); n > 0; n-- {
		select {
		case p.wake <- struct{}{}:
		default:
			return
		}
	}
}

// drain empties the cells, turning each idle instance's token into a spare,
// and returns the instances.
func (p *pool) drain() []*instance {
	var out []*instance
	for i := range p.cells {
		if inst := p.cells[i].p.Swap(nil); inst != nil {
			out = append(out, inst)
			p.spare.Add(1)
		}
	}
	return out
}

// idle lists the idle instances without taking them (for tests).
func (p *pool) idle() []*instance {
	var out []*instance
	for i := range p.cells {
		if inst := p.cells[i].p.Load(); inst != nil {
			out = append(out, inst)
		}
	}
	return out
}
