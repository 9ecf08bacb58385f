package host

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/plumemq/plume/host/internal/interrupt"
)

// instance is one instantiation of a plugin's module. It serves one call at a
// time; a trap or a deadline kills it and it leaves the pool.
type instance struct {
	m      *module
	mod    api.Module
	ctx    context.Context // carries the instance to host functions; cancelled at the deadline
	cancel context.CancelFunc
	fns    [numFns]api.Function
	stack  [1]uint64
	stop   api.MutableGlobal // the interrupt global; nil without instrumentation

	// deadline is the watchdog epoch after which the running call is cut off;
	// 0 when idle, expiredMark once the watchdog has cut it.
	deadline atomic.Int64

	c call

	// what the instance's init declared
	declared    uint32
	hasDeclared bool
	filters     []filter
}

const expiredMark = -1

func (m *module) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{m: m}
	inst.ctx, inst.cancel = context.WithCancel(context.WithValue(context.Background(), instKey{}, inst))
	m.h.watch(inst)
	// The start function and init run under the deadline too: a plugin that
	// loops in its init must not hang a reload.
	inst.deadline.Store(m.h.now() + m.h.ticksFor(max(m.cfg.CallTimeout, minInitTimeout)))
	err := inst.start(ctx)
	if inst.deadline.Swap(0) == expiredMark {
		err = fmt.Errorf("%w (init, %s): %v", ErrDeadline, max(m.cfg.CallTimeout, minInitTimeout), err)
	}
	if err != nil {
		inst.close()
		return nil, err
	}
	return inst, nil
}

func (inst *instance) start(ctx context.Context) error {
	m := inst.m
	mod, err := m.rt.InstantiateModule(inst.ctx, m.compiled, m.modCfg.WithName(fmt.Sprintf("%s#%d", m.name, m.seq.Add(1))))
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	inst.mod = mod
	if m.mode == deadlineInterrupt {
		g, ok := mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("instrumented module lacks the %s global", interrupt.Export)
		}
		inst.stop = g
	}
	for i, name := range fnNames {
		if m.exports[i] {
			inst.fns[i] = mod.ExportedFunction(name)
		}
	}
	v := mod.ExportedFunction(exportABIVersion)
	if err := v.CallWithStack(inst.ctx, inst.stack[:]); err != nil {
		return fmt.Errorf("%s: %w", exportABIVersion, err)
	}
	if got := int32(inst.stack[0]); got != ABIVersion {
		return fmt.Errorf("%w: the module declares ABI version %d; this host speaks version %d", ErrABI, got, ABIVersion)
	}
	if f := mod.ExportedFunction(exportInit); f != nil {
		inst.c.init = true
		inst.stack[0] = uint64(len(m.cfg.Config))
		err := f.CallWithStack(inst.ctx, inst.stack[:])
		c := &inst.c
		c.init = false
		inst.declared, inst.hasDeclared, inst.filters = c.declared, c.hasDeclared, c.filters
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
// atomic stores here; the watchdog does the rest (see docs/decisions/0006).
func (inst *instance) invoke(fn int) (uint64, bool, error) {
	h := inst.m.h
	var err error
	switch inst.m.mode {
	case deadlinePerCall:
		ctx, cancel := context.WithTimeout(inst.ctx, inst.m.cfg.CallTimeout)
		err = inst.fns[fn].CallWithStack(ctx, inst.stack[:])
		cancel()
		if err != nil && ctx.Err() != nil {
			return 0, false, fmt.Errorf("%w (%s)", ErrDeadline, inst.m.cfg.CallTimeout)
		}
	default:
		inst.deadline.Store(h.now() + inst.m.ticks)
		err = inst.fns[fn].CallWithStack(inst.ctx, inst.stack[:])
		if inst.deadline.Swap(0) == expiredMark {
			// Cut off, or finished just as the watchdog struck: either way
			// the instance's context is cancelled and the instance is dead.
			if err != nil {
				return 0, false, fmt.Errorf("%w (%s)", ErrDeadline, inst.m.cfg.CallTimeout)
			}
			return inst.stack[0], false, nil
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", ErrTrap, err)
	}
	return inst.stack[0], true, nil
}

// interrupt cuts off the running call; the instance is dead afterwards.
func (inst *instance) interrupt() {
	if inst.stop != nil {
		inst.stop.Set(1)
		return
	}
	inst.cancel()
}

func (inst *instance) close() {
	inst.m.h.unwatch(inst)
	inst.cancel()
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
}
