package host

import (
	"context"
	"hash/fnv"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/ratelog"
)

// A shadow runs a chain entry's candidate (ShadowConfig) beside the plugin
// that serves: each event the serving plugin answered is copied, with its
// answer, into a bounded queue; workers of the shadow's own call the
// candidate and compare (shadow_compare.go). Nothing of it is on the serving
// path but the copy and a non-blocking send: a full queue drops the event
// (counted), a candidate that traps, loops or sleeps costs its own
// instances and workers only, and its answers are never applied.
//
// The queue is split into lanes, one worker each (the candidate's
// pool_size of them), and a client's events always take the same lane, so
// the candidate sees each client's events in order: an enhanced-auth
// exchange continues in the order the serving plugin saw it, and a
// disconnect comes after the events before it.
//
// The candidate keeps per-client state keyed by its *hooks.Client. A lane
// keeps one such Client per connection, refreshed from each event's
// snapshot: the broker's own Client (and the packet buffers its strings may
// alias) is never read after the serving call returned.
type shadow struct {
	of    string  // the serving plugin's name
	cand  *Plugin // the candidate
	log   zerolog.Logger
	lines *ratelog.Limiter // disagreement and failure lines, per point and kinds
	stats *shadowStats
	queue int // the configured bound, split among the lanes
	lanes []*lane
	snaps sync.Map // *hooks.Client (the broker's) -> *clientSnap, made on the serving path
	stop  chan struct{}
	wg    sync.WaitGroup
}

// Lines about one shadow: the first few, then one a second per cause, with
// the count of those held back.
const (
	shadowLinesEvery = time.Second
	shadowLinesBurst = 5
)

// lane is one worker's share of the queue.
type lane struct {
	events chan *shadowEvent
	wake   chan struct{} // gone has entries
	mu     sync.Mutex
	gone   []*hooks.Client // clients whose disconnect was dropped
	// clients maps the broker's Client to the candidate's; only the lane's
	// worker touches it.
	clients map[*hooks.Client]*hooks.Client
}

type eventKind uint8

const (
	evAuthenticate eventKind = iota
	evAuthorize
	evOnPublish
	evTransform
	evConnect
	evDisconnect
)

// shadowEvent is one event for the candidate with the serving plugin's
// answer. Everything in it is a copy owned by the shadow.
type shadowEvent struct {
	kind   eventKind
	key    *hooks.Client // the broker's: identity only, never read by the worker
	client *hooks.Client // immutable snapshot
	auth   hooks.AuthRequest
	authz  hooks.AuthzRequest
	msg    packets.Publish // the input of on-publish or transform
	reason packets.ReasonCode

	authRes  hooks.AuthResult
	authzRes hooks.AuthzResult
	pubRes   hooks.PublishResult
	out      packets.Publish // the serving transform's output
}

// clientSnap is the last snapshot of a client and what it was taken from:
// the fields that change after CONNECT (authenticate sets them).
type clientSnap struct {
	attrs         map[string]string
	principal     string
	authenticated bool
	c             *hooks.Client
}

// newShadow starts the workers of cand, the candidate of the plugin called
// of; stats carries counts over from a shadow it replaces (nil: fresh).
func newShadow(log zerolog.Logger, of string, cand *Plugin, queue, workers int, stats *shadowStats) *shadow {
	if stats == nil {
		stats = &shadowStats{since: time.Now()}
	}
	s := &shadow{of: of, cand: cand, queue: queue, stats: stats, stop: make(chan struct{}),
		log: log.With().Str("plugin", of).Str("candidate", cand.name).Logger()}
	s.lines = ratelog.New(shadowLinesEvery, shadowLinesBurst, func(key string, n uint64) {
		s.log.Warn().Str("cause", key).Uint64("suppressed", n).Msg("shadow plugin lines suppressed")
	})
	per := max((queue+workers-1)/workers, 1)
	for range workers {
		l := &lane{events: make(chan *shadowEvent, per), wake: make(chan struct{}, 1), clients: map[*hooks.Client]*hooks.Client{}}
		s.lanes = append(s.lanes, l)
		s.wg.Add(1)
		go s.work(l)
	}
	return s
}

// close stops the workers and waits for them: a call in flight ends at the
// candidate's deadline at the latest. Events still queued are dropped.
func (s *shadow) close() {
	close(s.stop)
	s.wg.Wait()
	s.lines.Close()
}

// offer queues ev without waiting, or drops and counts it.
func (s *shadow) offer(ev *shadowEvent) {
	l := s.lanes[s.laneOf(ev.key)]
	select {
	case l.events <- ev:
	default:
		s.stats.dropped.Add(1)
		if ev.kind == evDisconnect {
			// The candidate's state for the client must still go: the
			// worker drops it once the events queued before are done.
			l.mu.Lock()
			l.gone = append(l.gone, ev.key)
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (s *shadow) laneOf(c *hooks.Client) int {
	n := uint64(len(s.lanes))
	switch {
	case n == 1 || c == nil:
		return 0
	case c.Handle != 0:
		return int(c.Handle % n)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(c.ID))
	return int(h.Sum64() % n)
}

func (s *shadow) work(l *lane) {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case ev := <-l.events:
			s.handle(l, ev)
		case <-l.wake:
		}
		if len(l.events) == 0 {
			s.forgetGone(l)
		}
	}
}

// forgetGone drops the state of clients whose disconnect was dropped. The
// lane is empty, so every event queued before the disconnect is done.
func (s *shadow) forgetGone(l *lane) {
	l.mu.Lock()
	gone := l.gone
	l.gone = nil
	l.mu.Unlock()
	for _, key := range gone {
		if c := l.clients[key]; c != nil {
			s.cand.shared.forget(c)
			delete(l.clients, key)
		}
	}
}

// handle calls the candidate with ev and compares its answer.
func (s *shadow) handle(l *lane, ev *shadowEvent) {
	c := l.clients[ev.key]
	if c == nil {
		c = new(hooks.Client)
		l.clients[ev.key] = c
	}
	*c = *ev.client
	ctx := context.Background()
	switch ev.kind {
	case evAuthenticate:
		req := ev.auth
		req.Client = c
		res, err := s.cand.Authenticate(ctx, &req)
		s.compared(ev, c, err, func() kinds { return authDiff(ev.authRes, res, c.Username) },
			func() (string, string) { return describeAuth(ev.authRes), describeAuth(res) })
	case evAuthorize:
		req := ev.authz
		req.Client = c
		res, err := s.cand.Authorize(ctx, &req)
		s.compared(ev, c, err, func() kinds { return authzDiff(ev.authzRes, res) },
			func() (string, string) { return describeAuthz(ev.authzRes), describeAuthz(res) })
	case evOnPublish:
		res, err := s.cand.OnPublish(ctx, c, &ev.msg)
		s.compared(ev, c, err, func() kinds { return publishDiff(ev.pubRes, res) },
			func() (string, string) { return describePublish(ev.pubRes), describePublish(res) })
	case evTransform:
		err := s.cand.Transform(ctx, c, &ev.msg) // ev.msg becomes the candidate's output
		s.compared(ev, c, err, func() kinds { return transformDiff(&ev.out, &ev.msg) },
			func() (string, string) { return describeMessage(&ev.out), describeMessage(&ev.msg) })
	case evConnect:
		s.cand.OnConnect(ctx, c)
	case evDisconnect:
		s.cand.OnDisconnect(ctx, c, ev.reason)
		delete(l.clients, ev.key)
	}
}

// snapshot returns an immutable copy of c. After authenticate a client
// changes only when authenticate runs again, so the copy is made once and
// shared by the events after it; fresh forces a new one.
func (s *shadow) snapshot(c *hooks.Client, fresh bool) *hooks.Client {
	if !fresh {
		if v, ok := s.snaps.Load(c); ok {
			sn := v.(*clientSnap)
			if sameMap(sn.attrs, c.Attributes) && sn.principal == c.Principal && sn.authenticated == c.Authenticated {
				return sn.c
			}
		}
	}
	cp := cloneClient(c)
	s.snaps.Store(c, &clientSnap{attrs: c.Attributes, principal: cp.Principal, authenticated: c.Authenticated, c: cp})
	return cp
}

// sameMap reports whether a and b are the same map (not equal ones): the
// broker replaces a client's attributes, it never edits them.
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// The serving plugin's side: called by Plugin after it answered, on the
// broker's goroutine. Each copies what the candidate needs and queues it.

func (s *shadow) authenticated(req *hooks.AuthRequest, res hooks.AuthResult) {
	if !s.cand.Provides(hooks.PointAuthenticate) {
		return
	}
	ev := &shadowEvent{kind: evAuthenticate, key: req.Client, client: s.snapshot(req.Client, true), authRes: res}
	ev.auth = hooks.AuthRequest{Step: req.Step, Method: cloneString(req.Method), Data: cloneBytes(req.Data)}
	s.offer(ev)
}

func (s *shadow) authorized(req *hooks.AuthzRequest, res hooks.AuthzResult) {
	if !s.cand.Provides(hooks.PointAuthorize) {
		return
	}
	ev := &shadowEvent{kind: evAuthorize, key: req.Client, client: s.snapshot(req.Client, false), authzRes: res}
	ev.authz = hooks.AuthzRequest{Action: req.Action, Topic: cloneString(req.Topic), QoS: req.QoS, Retain: req.Retain}
	s.offer(ev)
}

func (s *shadow) published(c *hooks.Client, m *packets.Publish, res hooks.PublishResult) {
	s.offer(&shadowEvent{kind: evOnPublish, key: c, client: s.snapshot(c, false), msg: clonePublish(m), pubRes: res})
}

// transformed takes in, a copy of the message made before the serving
// transform ran, and out, the message it left.
func (s *shadow) transformed(c *hooks.Client, in packets.Publish, out *packets.Publish) {
	s.offer(&shadowEvent{kind: evTransform, key: c, client: s.snapshot(c, false), msg: in, out: clonePublish(out)})
}

// wants reports whether the candidate takes message events at pt on topic.
func (s *shadow) wants(pt hooks.Point, topic string) bool {
	m := s.cand.cur.Load()
	return m.points&pt != 0 && matchAny(m.filters, topic)
}

func (s *shadow) connected(c *hooks.Client) {
	s.offer(&shadowEvent{kind: evConnect, key: c, client: s.snapshot(c, false)})
}

func (s *shadow) disconnected(c *hooks.Client, reason packets.ReasonCode) {
	snap := s.snapshot(c, false)
	s.snaps.Delete(c)
	s.offer(&shadowEvent{kind: evDisconnect, key: c, client: snap, reason: reason})
}
