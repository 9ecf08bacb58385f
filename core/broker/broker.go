// Package broker is Plume's MQTT server: connection lifecycle, session attach
// and takeover, routing and delivery. Transports hand it net.Conns (Serve,
// ServeConn); policy comes from a hooks.Hooks.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/journal"
	"github.com/plumemq/plume/core/ratelog"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// Broker is an MQTT 3.1, 3.1.1 and 5.0 server.
type Broker struct {
	opts     Options
	log      zerolog.Logger
	hooks    hooks.Hooks
	hooksGen generations // hooks as generations, when they have them
	router   *topics.Router
	retained *topics.Retained[*session.Message]
	// live holds what a reload may change (live.go): limits, admission
	// rules, session_owner_mismatch. liveMu orders its setters.
	live   atomic.Pointer[live]
	liveMu sync.Mutex
	// partials bounds bytes held for packets still arriving (reader.go).
	partials *budget.Bytes
	started  time.Time
	stats    stats
	hookLog  *ratelog.Limiter // hook failure warnings, per extension point
	budget   *budget.Bytes    // what every session's queue holds (Limits.MaxQueuedBytesTotal)
	dropLog  *ratelog.Limiter // drop warnings, per session
	// journal commits changes to opts.Store and holds answers until their
	// changes are durable (durable.go); nil without a store.
	journal *journal.Journal
	// fabric is opts.Fabric: nil on one node (fabric.go).
	fabric Fabric
	// ingest is the fabric when it carries QoS ≥ 1 messages through the
	// store (ingest.go); nil on one node, and without a store.
	ingest Ingest
	// positions are the ingest positions the store loaded (ingest.go).
	positions session.Positions
	// moving is held by a session moving in while its catch-up runs, and
	// shared by each clustered QoS ≥ 1 publish from its routing here to its
	// Forward (route.go, takeover.go).
	moving sync.RWMutex
	part   partition // the quorum gate of a cluster node (partition.go)
	// released are the sessions this node let go whose last state, with
	// the cut it carries, was not committed before Release returned: a
	// CONNECT here waits for it before it reads the store (takeover.go).
	// Under mu.
	released map[string]journal.Ticket

	sessions sessionIndex // client id -> *entry; written under mu, read anywhere (sessindex.go)
	retainMu sync.Mutex   // orders writes to retained and the store's copy
	order    *topicOrder  // per topic: retained store and routing in one order

	mu        sync.Mutex
	conns     connTable // the connections: tracked from accept to their end (admission.go)
	listeners map[net.Listener]struct{}
	// perListener counts the connections in clients by listener name, for
	// ListenerPolicy.MaxConnections (admission.go).
	perListener map[string]int
	refuseLog   *ratelog.Limiter // connections refused before CONNECT was read
	closing     bool

	wg       tracker // every goroutine the broker starts
	sysStop  chan struct{}
	sysEvery chan time.Duration // SetSysInterval to sysLoop
	// sysStarted: sysLoop runs (from New, or SetSysInterval once $SYS is
	// turned on). With mu.
	sysStarted bool

	parkAfter time.Duration // idle time after which a connection is parked; 0 = never
	pollOnce  sync.Once
	poll      *poller // nil until the first park, or where there is none
	pollDone  chan struct{}
	// waits: the last two connections that waited for their next packet
	// after a small batch. Serving inline pays only when several do so at
	// once (peersWaiting, inline_linux.go).
	waits recentWaits
	// inlineAlone: a test seam (inline_export_linux_test.go) that serves a
	// lone latency-bound client inline too, for the tests of the inline
	// path itself. Set before any client connects.
	inlineAlone atomic.Bool

	// Test seams (export_test.go), nil in production: retainStored runs after
	// a retained message is stored and before it is routed; orderWait runs
	// when a retained publish finds its topic's order lock taken.
	retainStored, orderWait func(m *session.Message)
	// releaseWaits runs when Release waits for a CONNECT to attach to the
	// session it took over.
	releaseWaits func()
}

// entry is a session together with what the broker keeps beside it: the
// connection attached to it, its expiry timer and a will waiting for its delay.
// client, expiry and will are guarded by Broker.mu.
type entry struct {
	// The session by value: entry and session are one allocation, 256
	// bytes, rather than a 224-byte session and a 48-byte entry for every
	// connection (docs/decisions/0042).
	session.Session
	client *client
	// off is what only a session without a connection needs; nil while
	// one is attached. Under b.mu.
	off *offlineState
}

// offlineState is a session entry's state while no connection is attached: one
// allocation when a connection leaves, rather than 24 bytes in every entry
// (docs/decisions/0048).
type offlineState struct {
	expiry *time.Timer  // ends the session when its expiry interval passes
	will   *pendingWill // a will waiting for its delay, nil if none
	// since is when the connection left (Unix ns): the store's
	// Record.DisconnectedAt.
	since int64
	// arriving, while a CONNECT that took the session from another node is
	// between the install and its attach, closes once it attached (or
	// failed to): Release waits for it, so that it lets go of the
	// connection too, not of an entry the CONNECT then finds gone.
	arriving chan struct{}
}

// offline is e.off, made if there is none. b.mu is held.
func (e *entry) offline() *offlineState {
	if e.off == nil {
		e.off = new(offlineState)
	}
	return e.off
}

// pendingWill is the will waiting for its delay, nil if none. b.mu is held.
func (e *entry) pendingWill() *pendingWill {
	if e.off == nil {
		return nil
	}
	return e.off.will
}

// offlineSince is when the connection left (Unix ns), 0 while one is
// attached. b.mu is held, or e is the caller's connection's session.
func (e *entry) offlineSince() int64 {
	if e.off == nil {
		return 0
	}
	return e.off.since
}

type pendingWill struct {
	msg    *session.Message
	client hooks.Client
	timer  *time.Timer
	due    time.Time // when the timer fires; saved so a restart keeps the delay
}

// New makes a broker from opts (see Options.Defaults) and restores what
// opts.Store holds.
func New(opts Options) (*Broker, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("broker options: %w", err)
	}
	if err := checkIngest(opts); err != nil { // ingest.go
		return nil, err
	}
	opts = opts.Defaults()
	b := &Broker{
		opts:        opts,
		log:         opts.Log,
		hooks:       opts.Hooks,
		router:      topics.NewRouter(),
		retained:    topics.NewRetained[*session.Message](),
		order:       newTopicOrder(),
		partials:    budget.New(int64(opts.Limits.MaxPartialPacketBytes)),
		started:     time.Now(),
		listeners:   map[net.Listener]struct{}{},
		perListener: map[string]int{},
		sysStop:     make(chan struct{}),
		sysEvery:    make(chan time.Duration),
		parkAfter:   max(opts.ParkIdleAfter, 0),
		budget:      budget.New(int64(max(opts.Limits.MaxQueuedBytesTotal, 0))),
	}
	b.live.Store(&live{
		limits: opts.Limits, listeners: opts.Listeners, anonymous: opts.AllowAnonymous,
		ownerMismatch: opts.SessionOwnerMismatch, sess: newSessionLimits(opts.Limits, b.budget, nil),
	})
	b.dropLog = ratelog.New(dropLogInterval, 1, b.reportDrops)
	b.hookLog = ratelog.New(hookErrorEvery, 1, b.reportHookFailures)
	b.refuseLog = ratelog.New(refuseLogInterval, 1, b.reportRefusals)
	if b.hooks == nil {
		b.hooks = hooks.Base{}
	}
	b.hooksGen, _ = b.hooks.(generations)
	if opts.Fabric != nil {
		b.joinFabric(opts.Fabric) // before openStore restores subscriptions
	}
	b.initPartition(opts.Quorum)
	if err := b.openStore(); err != nil {
		b.closeLogLimiters()
		return nil, err
	}
	if opts.SysInterval > 0 {
		b.sysStarted = true
		b.wg.Add(1)
		go b.sysLoop(opts.SysInterval)
	}
	return b, nil
}

// closeLogLimiters writes what the rate-limited logs still hold back.
func (b *Broker) closeLogLimiters() {
	b.dropLog.Close()
	b.hookLog.Close()
	b.refuseLog.Close()
	b.closePartition()
}

// ErrClosed is returned by Serve once Shutdown has begun.
var ErrClosed = errors.New("broker: shut down")

// Serve accepts connections on l until l fails or the broker shuts down. name
// is the listener's name as hooks and logs see it.
func (b *Broker) Serve(l net.Listener, name string) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrClosed
	}
	b.listeners[l] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.listeners, l)
		b.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if b.isClosing() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				b.log.Warn().Err(err).Dur("retry_in_ms", backoff).Msg("accept failed")
				time.Sleep(backoff) // nothing to await: the kernel refused us
				continue
			}
			return err
		}
		backoff = 0
		b.ServeConn(conn, name)
	}
}

// ServeConn serves one connection that a transport accepted. It returns at once.
func (b *Broker) ServeConn(conn net.Conn, listener string) {
	// Add under mu, where Shutdown sets closing before it waits: a WaitGroup
	// must not grow from zero while Wait runs.
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		_ = conn.Close()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go b.handle(conn, listener)
}

func (b *Broker) isClosing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closing
}

// Shutdown stops accepting, disconnects every client (5.0 clients with
// DISCONNECT 0x8B, or 0x9C with Options.ServerReference: drain.go), saves
// sessions to the store and waits for every goroutine, or until ctx ends.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.closing {
		b.closing = true
		close(b.sysStop)
	}
	for l := range b.listeners {
		_ = l.Close()
	}
	bye := b.goodbye()
	b.conns.each(func(c *client) bool {
		c.stopWith(bye)
		return true
	})
	b.mu.Unlock()
	b.stopPoller()

	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.closeLogLimiters()
		return ctx.Err()
	}
	b.closeLogLimiters() // the counts not logged yet
	return b.persistAll(ctx)
}

// persistAll stops session timers and commits what the journal still
// holds. Every session's state went to it as it changed: the connections
// that Shutdown closed were saved as they ended.
func (b *Broker) persistAll(ctx context.Context) error {
	b.mu.Lock()
	b.sessions.each(func(e *entry) bool {
		if o := e.off; o != nil {
			if o.expiry != nil {
				o.expiry.Stop()
			}
			if o.will != nil {
				o.will.timer.Stop()
			}
		}
		return true
	})
	b.mu.Unlock()
	if b.journal == nil {
		return nil
	}
	// A disk that hangs must not hang the shutdown past its deadline.
	closed := make(chan error, 1)
	go func() { closed <- b.journal.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			return fmt.Errorf("session store: the last changes were not saved: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("session store: the last commit did not finish in time: %w", ctx.Err())
	}
}

// ClientCount is the number of open connections, those still in the CONNECT
// handshake included (Stats().ClientsConnected counts only accepted clients).
func (b *Broker) ClientCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns.n
}

// idlePoller returns the poller for parked connections, starting it on first use.
func (b *Broker) idlePoller() *poller {
	b.pollOnce.Do(func() {
		p, err := newPoller(&b.conns)
		if err != nil {
			b.log.Warn().Err(err).Msg("no idle poller: idle connections keep their goroutines")
			return
		}
		b.poll, b.pollDone = p, make(chan struct{})
		go func() { defer close(b.pollDone); p.loop() }()
	})
	return b.poll
}

// stopPoller ends the poller's loop; parked connections were kicked before.
func (b *Broker) stopPoller() {
	b.pollOnce.Do(func() {}) // no poller may start from now on
	if b.poll != nil {
		b.poll.stop()
		<-b.pollDone
	}
}
