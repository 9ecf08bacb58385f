package host

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// instance is one instantiation of a plugin's module. It serves one call at a
// time; a trap or a deadline kills it and it leaves the pool.
type instance struct {
	m     *module
	g     guest
	stack [1]uint64

	// deadline is the watchdog epoch after which the running call is cut off;
	// 0 when idle, expiredMark once the watchdog has cut it.
	deadline atomic.Int64

	c call

	// The export the last invoke called and how long it took, for the
	// plugin's counters (metrics.go), read by Plugin.end.
	fn   int
	took time.Duration

	// what the instance's init declared
	declared    uint32
	hasDeclared bool
	filters     []filter
	headerAt    uint32 // where the host writes each call's header; 0: the guest pulls it
	payloadAt   uint32 // where it writes payloads that fit payloadCap; 0: none
	payloadCap  uint32

	// cut is closed when the watchdog cuts the running call off, to wake a
	// guest blocked in a host call (a WASI sleep), which no check inside the
	// guest's code can reach. The instance is dead after, so it closes once.
	cut chan struct{}
}

const expiredMark = -1

func (m *module) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{m: m, cut: make(chan struct{})}
	inst.g = m.code.newGuest(inst)
	m.h.watch(inst)
	// The start function and init run under the deadline too: a plugin that
	// loops in its init must not hang a reload.
	timeout := max(m.cfg.CallTimeout, minInitTimeout)
	deadline := m.h.now() + m.h.ticksFor(timeout)
	inst.deadline.Store(deadline)
	err := inst.start(ctx, deadline)
	if inst.deadline.Swap(0) == expiredMark || errors.Is(err, errInterrupted) {
		err = fmt.Errorf("%w (init, %s): %v", ErrDeadline, timeout, err)
	}
	if err != nil {
		inst.close()
		return nil, err
	}
	return inst, nil
}

func (inst *instance) start(ctx context.Context, deadline int64) error {
	m := inst.m
	if err := inst.g.start(ctx, deadline); err != nil {
		return err
	}
	if err := inst.g.call(fnABIVersion, inst.stack[:], deadline); err != nil {
		return fmt.Errorf("%s: %w", exportABIVersion, err)
	}
	if got := int32(inst.stack[0]); got != ABIVersion {
		return fmt.Errorf("%w: the module declares ABI version %d; this host speaks version %d", ErrABI, got, ABIVersion)
	}
	if _, ok := m.code.info().funcs[exportInit]; ok {
		inst.c.init = true
		inst.stack[0] = uint64(len(m.cfg.Config))
		err := inst.g.call(fnInit, inst.stack[:], deadline)
		c := &inst.c
		c.init = false
		inst.declared, inst.hasDeclared, inst.filters = c.declared, c.hasDeclared, c.filters
		inst.headerAt, inst.payloadAt, inst.payloadCap = c.headerAt, c.payloadAt, c.payloadCap
		msg := c.errMsg
		c.reset()
		if err != nil {
			return fmt.Errorf("%s: %w", exportInit, err)
		}
		if code := int32(inst.stack[0]); code != 0 {
			if msg == "" {
				msg = fmt.Sprintf("code %d", code)
			}
			return fmt.Errorf("plugin refused its config: %s", msg)
		}
	}
	return nil
}

// invoke runs one export under the call deadline. The deadline costs two
// atomic stores here and the engine's own enforcement (docs/decisions/0006 for
// wazero, 0008 for wasmtime).
func (inst *instance) invoke(fn int) (uint64, bool, error) {
	h := inst.m.h
	// One clock read serves the deadline's epoch and the call's latency.
	began := time.Since(h.start)
	c := &inst.c
	if inst.payloadAt != 0 && c.msg != nil && uint32(len(c.msg.Payload)) <= inst.payloadCap {
		// A small payload costs less to copy in unasked than a host call to
		// fetch it. Checked when declared, and memory never shrinks.
		c.payloadIn = inst.g.writeMemory(inst.payloadAt, c.msg.Payload)
	}
	if inst.headerAt != 0 {
		inst.g.writeMemory(inst.headerAt, c.header())
	}
	deadline := epochAt(began) + inst.m.ticks
	inst.deadline.Store(deadline)
	err := inst.g.call(fn, inst.stack[:], deadline)
	inst.fn, inst.took = fn, time.Since(h.start)-began
	if inst.deadline.Swap(0) == expiredMark {
		// Cut off, or finished just as the watchdog struck: either way the
		// instance has been interrupted and is dead, and an answer that came
		// after the deadline is never used: the failure policy decides.
		return 0, false, fmt.Errorf("%w (%s)", ErrDeadline, inst.m.cfg.CallTimeout)
	}
	if err != nil {
		switch {
		case errors.Is(err, errInterrupted):
			return 0, false, fmt.Errorf("%w (%s)", ErrDeadline, inst.m.cfg.CallTimeout)
		case errors.Is(err, errOutOfFuel):
			return 0, false, fmt.Errorf("%w (%d)", ErrFuel, inst.m.cfg.Fuel)
		}
		return 0, false, fmt.Errorf("%w: %v", ErrTrap, err)
	}
	return inst.stack[0], true, nil
}

// cutOff ends the running call, from the watchdog, which has just marked the
// deadline expired (once per instance: it is discarded after).
func (inst *instance) cutOff() {
	close(inst.cut)
	inst.g.interrupt()
}

// sleep is a guest's WASI sleep (poll_oneoff on a clock), on either engine:
// it returns true after d, or false as soon as the watchdog cuts the call
// off, and the engine then traps the call. A blocking host call is part of
// the call, and the deadline covers it.
func (inst *instance) sleep(d time.Duration) bool {
	select {
	case <-inst.cut:
		return false
	default:
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-inst.cut:
		return false
	}
}

func (inst *instance) close() {
	inst.m.h.unwatch(inst)
	inst.g.close()
}
