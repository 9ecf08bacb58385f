package limit

import "strconv"

// The host's store has no expiry, and a bucket key per client id ever seen
// would fill it (65,536 keys, kv_max_bytes). A bucket whose TAT has passed
// holds nothing a missing key does not (both mean "full"), so it can be
// deleted. The sweeper finds such keys without listing the store, which the
// ABI cannot do:
//
//   - a new bucket key is registered under the minute after its TAT:
//     "s/<minute>#" counts the minute's entries (kv_add gives each a slot),
//     "s/<minute>/<n>" names the key;
//   - about once a second each instance sweeps the minutes that are over,
//     from "s/next": it claims entries by counting "s/<minute>#" down
//     (kv_add, so two instances never take the same entry), deletes each key
//     whose TAT has passed and registers the others again under their new
//     TAT's minute.
//
// A minute is swept only once it is at least a minute past, and a key is
// registered only for a minute after the current one, so a registration
// never races a sweep of its minute. Every key that exists is registered in
// a minute not yet swept; the store holds, beyond the live buckets, at most
// one registration per bucket that was created or went on living.

const (
	minute       = int64(60e9)
	sweepEvery   = int64(1e9)
	sweepBudget  = 512      // entries per sweep, so no call runs long
	sweepMinutes = 24 * 60  // minutes looked at per sweep after a long idle
	keyNext      = "s/next" // the first minute not yet swept
	prefixSweep  = "s/"     // registrations
	prefixDenied = "d/"     // refusals of a bucket in the current episode
	keyTotal     = "t/"     // refusals since the store began, per kind
)

func minuteKey(m int64) string { return prefixSweep + strconv.FormatInt(m, 10) }

// register records key, whose TAT is tat, for the sweep after tat's minute.
func (l *Limiter) register(key string, tat int64) {
	mk := minuteKey(tat/minute + 1)
	n := l.kv.Add(mk+"#", 1)
	if n <= 0 || !l.kv.SetString(mk+"/"+strconv.FormatInt(n, 10), key) {
		l.storeFull()
	}
}

// maybeSweep sweeps what is due, at most once a second per instance.
func (l *Limiter) maybeSweep(now int64) {
	if now < l.nextSweep {
		return
	}
	l.nextSweep = now + sweepEvery
	cur := now / minute
	next, ok := l.kv.Get(keyNext)
	if !ok || next > cur {
		l.kv.Set(keyNext, cur) // nothing is registered for a minute before now
		return
	}
	budget := sweepBudget
	for m := next; m < cur && m < next+sweepMinutes; m++ {
		var done bool
		if budget, done = l.sweepMinute(m, now, budget); !done {
			return
		}
		l.kv.Set(keyNext, m+1)
	}
	if cur-next > sweepMinutes { // idle for over a day: nothing there to keep
		l.kv.Set(keyNext, cur-sweepMinutes)
	}
}

// sweepMinute handles up to budget entries of minute m and reports what is
// left of the budget and whether the minute is done.
func (l *Limiter) sweepMinute(m, now int64, budget int) (int, bool) {
	mk := minuteKey(m)
	if _, ok := l.kv.Get(mk + "#"); !ok {
		return budget, true
	}
	for ; budget > 0; budget-- {
		n := l.kv.Add(mk+"#", -1) + 1 // the entry this instance takes
		if n <= 0 {
			l.kv.Delete(mk + "#")
			return budget, true
		}
		ek := mk + "/" + strconv.FormatInt(n, 10)
		key, ok := l.kv.GetString(ek)
		l.kv.Delete(ek)
		if ok {
			l.expire(key, now)
		}
	}
	return 0, false
}

// expire deletes key if its bucket is full again, else registers it anew.
func (l *Limiter) expire(key string, now int64) {
	tat, ok := l.kv.Get(key)
	switch {
	case !ok:
	case tat <= now:
		l.kv.Delete(key)
		l.endEpisode(key)
	default:
		l.register(key, tat)
	}
}
