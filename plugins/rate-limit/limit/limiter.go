package limit

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Level is a log level, numbered as the plugin ABI's log import.
type Level int

// The levels used.
const (
	Info Level = 1
	Warn Level = 2
)

// Limiter checks publishes and connection attempts against a Config. One
// Limiter lives in each plugin instance; what they share lives in Store.
type Limiter struct {
	cfg       *Config
	kv        Store
	log       func(Level, string)
	nextSweep int64
	fullUntil int64 // the store-full warning is written at most once a minute
	now       int64 // of the call in progress, for storeFull
	// refusing holds the buckets this instance refused since they were
	// last full: a bucket found full again ends its episode here without
	// a host call for the buckets (almost all) that never refused. An
	// episode another instance began ends when the sweeper finds the
	// bucket full.
	refusing map[string]bool
}

// New returns a Limiter for cfg keeping its buckets in kv and writing its
// lines with log.
func New(cfg *Config, kv Store, log func(Level, string)) *Limiter {
	return &Limiter{cfg: cfg, kv: kv, log: log, refusing: map[string]bool{}}
}

// Kind is what a refused request was over.
type Kind uint8

// The kinds of limit.
const (
	None     Kind = iota
	Messages      // a messages_per_second bucket
	Bytes         // a bytes_per_second bucket
	Connects      // a connects_per_*_per_minute bucket
)

var kindNames = [...]string{"", "messages", "bytes", "connects"}

func (k Kind) String() string { return kindNames[k] }

// Denial says why a request was refused; the zero Denial allows it.
type Denial struct {
	Kind   Kind
	Reason string // for the client's reason string
}

// Bucket is one token bucket a client's messages are charged to.
type Bucket struct {
	Key  string
	Rate Rate
	Kind Kind
}

// Buckets lists the buckets a client's publishes are charged to: its own,
// and one per configured attribute it has (attr returns the client's value).
// The list depends only on the client, so callers keep it per connection.
func (l *Limiter) Buckets(clientID string, attr func(string) (string, bool)) []Bucket {
	var bs []Bucket
	add := func(scope string, lim Limits) {
		if lim.Messages.On() {
			bs = append(bs, Bucket{"m/" + scope, lim.Messages, Messages})
		}
		if lim.Bytes.On() {
			bs = append(bs, Bucket{"b/" + scope, lim.Bytes, Bytes})
		}
	}
	add("c/"+clientID, l.cfg.PerClient)
	for name, lim := range l.cfg.PerAttribute {
		if v, ok := attr(name); ok {
			add("a/"+name+"="+v, lim)
		}
	}
	return bs
}

// Publish charges a message of size bytes to buckets at now (Unix ns) and
// returns the Denial of the first bucket that refused, having taken back
// what the others were charged; the zero Denial when all allowed it.
func (l *Limiter) Publish(buckets []Bucket, size, now int64) Denial {
	l.now = now
	defer l.maybeSweep(now)
	for i, b := range buckets {
		cost := int64(1)
		if b.Kind == Bytes {
			cost = size
		}
		if l.charge(b, cost, now) {
			continue
		}
		for _, a := range buckets[:i] {
			if a.Kind == Bytes {
				l.refund(a.Key, a.Rate, size)
			} else {
				l.refund(a.Key, a.Rate, 1)
			}
		}
		return Denial{Kind: b.Kind, Reason: reasonFor(b)}
	}
	return Denial{}
}

// Connect charges a connection attempt of clientID from remote ("host:port")
// to the configured connection buckets.
func (l *Limiter) Connect(clientID, remote string, now int64) Denial {
	l.now = now
	defer l.maybeSweep(now)
	var bs [2]Bucket
	n := 0
	if r := ConnectRate(l.cfg.ConnectsPerClientPerMinute); r.On() && clientID != "" {
		// An empty id gets one assigned by the broker: nothing to key on but
		// the address.
		bs[n] = Bucket{"n/c/" + clientID, r, Connects}
		n++
	}
	if r := ConnectRate(l.cfg.ConnectsPerAddressPerMinute); r.On() {
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		bs[n] = Bucket{"n/r/" + host, r, Connects}
		n++
	}
	return l.Publish(bs[:n], 0, now)
}

// charge takes cost from b, keeping the sweeper and the episode counters
// informed; it reports whether the bucket allowed it.
func (l *Limiter) charge(b Bucket, cost, now int64) bool {
	ok, fresh, idle := l.take(b.Key, b.Rate, cost, now)
	if fresh {
		l.register(b.Key, now+cost*b.Rate.Interval)
	}
	if idle && l.refusing[b.Key] {
		l.endEpisode(b.Key)
	}
	if !ok {
		l.refused(b)
	}
	return ok
}

// An episode of a bucket runs from its first refusal until it is full again.
// Its first refusal writes a warning, every power of ten more refusals
// another, and its end an info line with the count: an operator sees each
// client or tenant that hit a limit, and how hard, without a line per
// refused message.
func (l *Limiter) refused(b Bucket) {
	if len(l.refusing) < maxRefusing {
		l.refusing[b.Key] = true
	}
	n := l.kv.Add(prefixDenied+b.Key, 1)
	total := l.kv.Add(keyTotal+b.Kind.String(), 1)
	switch {
	case n == 1:
		l.log(Warn, fmt.Sprintf("rate limited: %s over %s; refused since the plugin started: %d %s",
			label(b.Key), limitText(b), total, b.Kind))
	case isPowerOf10(n):
		l.log(Warn, fmt.Sprintf("rate limited: %s: %d refused in this episode; refused since the plugin started: %d %s",
			label(b.Key), n, total, b.Kind))
	}
}

// maxRefusing bounds an instance's refusing set under a flood of clients.
const maxRefusing = 4096

func (l *Limiter) endEpisode(key string) {
	delete(l.refusing, key)
	n, ok := l.kv.Get(prefixDenied + key)
	if !ok {
		return
	}
	l.kv.Delete(prefixDenied + key)
	l.log(Info, fmt.Sprintf("rate limit lifted: %s: %d refused in the episode", label(key), n))
}

// Totals returns the refusals of each kind since the store began (it lives as
// long as the broker process: reloads keep it).
func (l *Limiter) Totals() map[Kind]int64 {
	out := map[Kind]int64{}
	for k := Messages; k <= Connects; k++ {
		if n, ok := l.kv.Get(keyTotal + k.String()); ok {
			out[k] = n
		}
	}
	return out
}

func (l *Limiter) storeFull() {
	if l.now < l.fullUntil {
		return
	}
	l.fullUntil = l.now + minute
	l.log(Warn, "rate-limit: the key-value store is full (kv_max_bytes or 65,536 keys): limits are not applied to new buckets until it has room; raise kv_max_bytes")
}

func isPowerOf10(n int64) bool {
	for ; n >= 10 && n%10 == 0; n /= 10 {
	}
	return n == 1
}

// label spells a bucket key for a log line: `client "c7" messages`.
func label(key string) string {
	kind, scope, _ := strings.Cut(key, "/")
	what := map[string]string{"m": "messages", "b": "bytes", "n": "connects"}[kind]
	switch {
	case strings.HasPrefix(scope, "c/"):
		return "client " + strconv.Quote(scope[2:]) + " " + what
	case strings.HasPrefix(scope, "r/"):
		return "address " + scope[2:] + " " + what
	case strings.HasPrefix(scope, "a/"):
		name, value, _ := strings.Cut(scope[2:], "=")
		return name + " " + strconv.Quote(value) + " " + what
	}
	return key
}

func limitText(b Bucket) string {
	switch b.Kind {
	case Bytes:
		return fmt.Sprintf("%g bytes/s (burst %d)", b.Rate.PerSecond, b.Rate.Burst)
	case Connects:
		return fmt.Sprintf("%d connects/minute", b.Rate.Burst)
	}
	return fmt.Sprintf("%g messages/s (burst %d)", b.Rate.PerSecond, b.Rate.Burst)
}

func reasonFor(b Bucket) string {
	scope := "per client"
	switch rest := b.Key[2:]; {
	case strings.HasPrefix(rest, "a/"):
		name, _, _ := strings.Cut(rest[2:], "=")
		scope = "per " + name
	case strings.HasPrefix(rest, "r/"):
		scope = "per address"
	}
	switch b.Kind {
	case Bytes:
		return "byte rate too high: " + limitText(b) + " " + scope
	case Connects:
		return "connection rate exceeded: " + limitText(b) + " " + scope
	}
	return "message rate too high: " + limitText(b) + " " + scope
}
