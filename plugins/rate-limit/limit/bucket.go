package limit

// GCRA (the generic cell rate algorithm) keeps a token bucket as one number,
// the theoretical arrival time (TAT): the time at which the bucket would be
// full again. A unit costs Interval; a request of cost c is allowed when,
// after adding c*Interval, TAT is at most Burst*Interval ahead of now. One
// int64 per bucket is what the host's atomic kv_add can update, so every
// instance of the plugin shares the bucket with no lock of its own.
//
// kv_add cannot take a maximum, so a bucket that has been idle (TAT behind
// now) is brought forward with a kv_set: the one step that is not atomic.
// Calls of one client are serial (one connection reads one packet at a time),
// so per-client buckets never race there; a bucket shared by many clients
// (per attribute) can lose the cost of calls that land between another
// instance's kv_add and kv_set, at most one per concurrent call each time the
// bucket comes back from idle. docs/decisions/0027 has the measurement.

// clockSlack is how far ahead of the bucket's depth a TAT may be before it
// is taken for a clock that went backwards (an NTP step) rather than for
// debt: without it a step back of an hour would refuse everyone for an hour.
// Instances read the clock at slightly different moments, hence the margin.
const clockSlack = int64(1e9)

// racingCharges is how many charges beyond the bucket's depth TAT may carry
// before it reads as a clock step: refused charges are taken back, but
// between their kv_add and the take-back other instances see them. Without
// this margin a saturated shared bucket, hit by several instances at once,
// was read as a clock gone backwards and reset — admitting a fresh burst
// each time, exactly when the limit mattered. Pools are far smaller than 64.
const racingCharges = 64

// take charges cost units to the bucket under key at time now (ns) and
// reports whether they fit. A refused charge is taken back. fresh reports
// that the bucket did not exist (the sweeper must learn of it); idle that
// it had refilled completely since its last use.
func (l *Limiter) take(key string, r Rate, cost, now int64) (ok, fresh, idle bool) {
	inc := cost * r.Interval
	depth := r.Burst * r.Interval
	tat := l.kv.Add(key, inc)
	if tat == 0 && inc != 0 {
		// The store refused: fail open (a limiter must not stop traffic
		// because its own memory is full), and say so.
		l.storeFull()
		return true, false, false
	}
	old := tat - inc
	if old < now || old-now > depth+clockSlack+racingCharges*inc {
		fresh, idle = old == 0, old != 0 && old < now
		tat = now + inc
		if !l.kv.Set(key, tat) {
			l.storeFull()
			return true, fresh, idle
		}
	}
	if tat-now > depth {
		l.kv.Add(key, -inc)
		return false, fresh, idle
	}
	return true, fresh, idle
}

// refund gives back a charge that take allowed, when a later bucket of the
// same message refused it.
func (l *Limiter) refund(key string, r Rate, cost int64) { l.kv.Add(key, -cost*r.Interval) }
