// Package audit is Plume's audit log: an append-only stream of JSON lines,
// one per event, saying who did what, when and from where — every connect,
// authentication failure, authorization denial, takeover, disconnect, plugin
// load, swap and failure, admin API action and config reload
// (docs/decisions/0032-audit-log.md).
//
// Events go to a file rotated by size (Config.File) or to the main log
// (Config.Log). A Logger never makes its caller wait for the disk: events go
// through a bounded channel to one writer goroutine; when the channel is full
// they are counted and a "dropped" event says how many were lost as soon as
// the writer catches up. Denials and failures that a client or a broken
// plugin can repeat at message rate are rate-limited per client (or remote
// address, or plugin) and per class, with the count held back carried by the
// next event or a summary.
//
// The broker reports through Logger's broker.Observer methods, the plugin
// host through Plugin; the binary calls AdminAction and ConfigReload.
package audit

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/ratelog"
)

// Class names a kind of event.
type Class string

// The event classes.
const (
	ClassConnect       Class = "connect"        // CONNACK 0x00 sent
	ClassAuthFailure   Class = "auth_failure"   // refused for who it is (broker.Observer.AuthFailed)
	ClassAuthzDenied   Class = "authz_denied"   // a publish, subscribe or will denied
	ClassTakeover      Class = "takeover"       // a connection kicked by another with its client id
	ClassDisconnect    Class = "disconnect"     // a connection ended, with reason and initiator
	ClassPluginLoad    Class = "plugin_load"    // a plugin's module loaded
	ClassPluginSwap    Class = "plugin_swap"    // a reload replaced a plugin's module
	ClassPluginFailure Class = "plugin_failure" // a load or reload failed; a call trapped or overran its deadline
	ClassAdmin         Class = "admin"          // an admin API action
	ClassConfigReload  Class = "config_reload"  // the config file was reloaded
	ClassCluster       Class = "cluster"        // a cluster node lost or regained its quorum (decision 0057)
	// ClassDropped says how many events were lost because the writer fell
	// behind; it is always recorded.
	ClassDropped Class = "dropped"
)

// Classes are the classes Config.Events may name, in the order documented.
var Classes = []Class{
	ClassConnect, ClassAuthFailure, ClassAuthzDenied, ClassTakeover, ClassDisconnect,
	ClassPluginLoad, ClassPluginSwap, ClassPluginFailure, ClassAdmin, ClassConfigReload, ClassCluster,
}

// Event is one line of the audit log. Fields that do not apply are omitted.
type Event struct {
	Time  time.Time `json:"time"` // UTC (record makes it so); JSON writes RFC 3339 with nanoseconds
	Class Class     `json:"event"`
	// Who.
	ClientID    string `json:"client_id,omitempty"`
	Username    string `json:"username,omitempty"`
	Identity    string `json:"identity,omitempty"`     // the principal an authenticate hook allowed, or the certificate's
	CertSubject string `json:"cert_subject,omitempty"` // verified client certificate
	Actor       string `json:"actor,omitempty"`        // admin: who called the API
	// From where.
	Remote          string `json:"remote,omitempty"`
	Listener        string `json:"listener,omitempty"`
	ProtocolVersion byte   `json:"protocol_version,omitempty"`
	// What.
	Reason         *Reason  `json:"reason,omitempty"`
	InitiatedBy    string   `json:"initiated_by,omitempty"` // disconnect: client, server or network
	Action         string   `json:"action,omitempty"`       // publish, subscribe, will; an admin action; connect: new or resumed session
	Topic          string   `json:"topic,omitempty"`        // topic, or filter for subscribe
	Target         string   `json:"target,omitempty"`       // admin: what the action was on (a client id…)
	TakenOverBy    *Peer    `json:"taken_over_by,omitempty"`
	Plugin         string   `json:"plugin,omitempty"`
	Path           string   `json:"path,omitempty"`
	Hash           string   `json:"hash,omitempty"`     // SHA-256 of the plugin module serving
	OldHash        string   `json:"old_hash,omitempty"` // plugin_swap: the module replaced
	Trigger        string   `json:"trigger,omitempty"`  // config_reload: what asked for it
	Applied        []string `json:"applied,omitempty"`  // config_reload: keys applied
	NeedsRestart   []string `json:"needs_restart,omitempty"`
	Error          string   `json:"error,omitempty"`
	ConnectedForMS int64    `json:"connected_for_ms,omitempty"`
	MembersUp      []string `json:"members_up,omitempty"` // cluster: the nodes up
	// Suppressed counts events of this kind and key held back by the rate
	// limit since the last one recorded; Summary marks an event that only
	// carries such a count.
	Suppressed uint64 `json:"suppressed,omitempty"`
	Summary    bool   `json:"summary,omitempty"`
	Dropped    uint64 `json:"dropped,omitempty"` // class dropped: events lost
}

// Reason is an MQTT reason code with its name, and the reason text.
type Reason struct {
	Code uint8  `json:"code"`
	Name string `json:"name"`
	Text string `json:"text,omitempty"`
}

// Peer is the connection that took a session over.
type Peer struct {
	Remote   string `json:"remote,omitempty"`
	Listener string `json:"listener,omitempty"`
	Identity string `json:"identity,omitempty"`
}

// recentSize is how many events Recent keeps.
const recentSize = 256

// Rate limits of the events a client or a plugin can repeat at message
// rate: per key, then per class for all keys together.
const (
	limitEvery      = time.Minute
	limitPerKey     = 10
	limitPerClass   = 600
	defaultQueueLen = 4096
)

// Logger records audit events. Its methods are safe for concurrent use and
// never block on the destination.
type Logger struct {
	log     zerolog.Logger // the main log: write errors, and events with Config.Log
	sink    sink
	enabled map[Class]bool // nil: all

	sendMu sync.RWMutex // held for reading by senders; Close takes it to close ch
	closed bool
	ch     chan Event
	done   chan struct{}

	perKey, perClass *ratelog.Limiter
	errLog           *ratelog.Limiter

	dropped     atomic.Uint64 // lost since the last dropped event
	droppedAll  atomic.Uint64
	writeErrors atomic.Uint64

	mu     sync.Mutex
	recent [recentSize]Event
	next   int // where the next event goes in recent
	count  int // events in recent
}

// New opens the audit log cfg describes (after cfg.Validate) and starts its
// writer. log is the main log. Close stops it.
func New(cfg Config, log zerolog.Logger) (*Logger, error) {
	cfg = cfg.withDefaults()
	var s sink
	if cfg.Log {
		s = logSink{log: log}
	} else {
		f, err := openFile(cfg.File, int64(cfg.MaxSize), cfg.MaxFiles)
		if err != nil {
			return nil, err
		}
		s = f
	}
	return start(cfg, log, s, defaultQueueLen), nil
}

func start(cfg Config, log zerolog.Logger, s sink, queue int) *Logger {
	l := &Logger{log: log, sink: s, ch: make(chan Event, queue), done: make(chan struct{})}
	if len(cfg.Events) > 0 {
		l.enabled = map[Class]bool{}
		for _, c := range cfg.Events {
			l.enabled[c] = true
		}
	}
	l.perKey = ratelog.New(limitEvery, limitPerKey, l.summary)
	l.perClass = ratelog.New(limitEvery, limitPerClass, l.summary)
	l.errLog = ratelog.New(limitEvery, 1, func(_ string, n uint64) {
		l.log.Error().Uint64("suppressed", n).Msg("audit log writes failed")
	})
	go l.write()
	return l
}

// Enabled reports whether events of class c are recorded.
func (l *Logger) Enabled(c Class) bool { return l.enabled == nil || l.enabled[c] }

// record stamps ev and hands it to the writer, or counts it lost when the
// writer is behind. It never blocks.
func (l *Logger) record(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	l.mu.Lock()
	l.recent[l.next] = ev
	l.next = (l.next + 1) % recentSize
	l.count = min(l.count+1, recentSize)
	l.mu.Unlock()
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.ch <- ev:
	default:
		l.dropped.Add(1)
		l.droppedAll.Add(1)
	}
}

// Recent returns up to n of the last events recorded (at most 256), oldest
// first, for the dashboard.
func (l *Logger) Recent(n int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(max(n, 0), l.count)
	out := make([]Event, n)
	for i := range n {
		out[i] = l.recent[(l.next-n+i+recentSize)%recentSize]
	}
	return out
}

// Dropped is how many events were lost because the writer was behind.
func (l *Logger) Dropped() uint64 { return l.droppedAll.Load() }

// WriteErrors is how many events the destination failed to take.
func (l *Logger) WriteErrors() uint64 { return l.writeErrors.Load() }

// write is the writer goroutine: it writes each event, then, if any were
// lost meanwhile, a dropped event with their count.
func (l *Logger) write() {
	defer close(l.done)
	for ev := range l.ch {
		l.put(ev)
		l.reportDropped()
		if len(l.ch) == 0 {
			l.flush()
		}
	}
	l.reportDropped()
	l.flush()
}

func (l *Logger) flush() {
	if lost, err := l.sink.flush(); err != nil {
		l.failed(uint64(lost), err)
	}
}

// failed counts n events the destination did not take and logs why, once a
// minute at most.
func (l *Logger) failed(n uint64, err error) {
	total := l.writeErrors.Add(n)
	l.errLog.Log(&l.log, zerolog.ErrorLevel, "write").Err(err).Uint64("write_errors", total).Msg("audit log write failed")
}

func (l *Logger) reportDropped() {
	if n := l.dropped.Swap(0); n > 0 {
		l.put(Event{Time: time.Now().UTC(), Class: ClassDropped, Dropped: n})
	}
}

func (l *Logger) put(ev Event) {
	if err := l.sink.put(ev); err != nil {
		l.failed(1, err)
	}
}

// Close reports the counts the rate limits still hold, writes what is
// queued and closes the destination. Events recorded after Close are kept
// in Recent only.
func (l *Logger) Close() error {
	l.perKey.Close()
	l.perClass.Close()
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.ch)
	l.sendMu.Unlock()
	<-l.done
	l.errLog.Close()
	return l.sink.close()
}

// Memory returns a Logger that writes nothing and keeps the last events of
// the given classes for Recent: the dashboard's recent refusals when no
// audit log is configured. Close stops it.
func Memory(classes ...Class) *Logger {
	return start(Config{Events: classes}, zerolog.Nop(), discard{}, 64)
}

// discard is Memory's sink.
type discard struct{}

func (discard) put(Event) error     { return nil }
func (discard) flush() (int, error) { return 0, nil }
func (discard) close() error        { return nil }
