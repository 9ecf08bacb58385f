package audit

import (
	"net"
	"strings"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// The broker reports through these methods (Options.Observer = logger).
var _ broker.Observer = (*Logger)(nil)

// who fills the client's who and from-where fields; never its password.
func who(c *hooks.Client, ev *Event) {
	ev.ClientID, ev.Username, ev.Identity, ev.CertSubject = c.ID, c.Username, c.Principal, c.CertSubject()
	ev.Remote, ev.Listener, ev.ProtocolVersion = c.RemoteAddr, c.Listener, c.ProtocolVersion
}

func reason(r packets.ReasonCode, text string) *Reason {
	return &Reason{Code: uint8(r), Name: r.String(), Text: text}
}

// Connected records a connect.
func (l *Logger) Connected(c *hooks.Client, ce broker.ConnectEvent) {
	if !l.Enabled(ClassConnect) {
		return
	}
	ev := Event{Class: ClassConnect, Reason: reason(packets.Success, ""), Action: "new session"}
	if ce.SessionPresent {
		ev.Action = "resumed session"
	}
	who(c, &ev)
	l.record(ev)
}

// AuthFailed records an authentication failure, rate-limited per remote
// host: a password guesser varies its client id, not its address.
func (l *Logger) AuthFailed(c *hooks.Client, r packets.ReasonCode, why string) {
	if !l.Enabled(ClassAuthFailure) {
		return
	}
	ev := Event{Class: ClassAuthFailure, Reason: reason(r, why)}
	who(c, &ev)
	l.limited(ev, hostOf(c.RemoteAddr))
}

// Denied records an authorization denial, rate-limited per client id.
func (l *Logger) Denied(c *hooks.Client, action, topic string, r packets.ReasonCode, why string) {
	if !l.Enabled(ClassAuthzDenied) {
		return
	}
	ev := Event{Class: ClassAuthzDenied, Action: action, Topic: topic, Reason: reason(r, why)}
	who(c, &ev)
	l.limited(ev, c.ID)
}

// TakenOver records a takeover: who lost the connection, and to whom.
func (l *Logger) TakenOver(old, by *hooks.Client) {
	if !l.Enabled(ClassTakeover) {
		return
	}
	ev := Event{Class: ClassTakeover, Reason: reason(packets.SessionTakenOver, ""),
		TakenOverBy: &Peer{Remote: by.RemoteAddr, Listener: by.Listener, Identity: by.Principal}}
	who(old, &ev)
	l.record(ev)
}

// Disconnected records a disconnect with its reason and initiator.
func (l *Logger) Disconnected(c *hooks.Client, de broker.DisconnectEvent) {
	if !l.Enabled(ClassDisconnect) {
		return
	}
	ev := Event{Class: ClassDisconnect, Reason: reason(de.Reason, de.Text), InitiatedBy: de.By.String(),
		ConnectedForMS: de.ConnectedFor.Milliseconds()}
	if de.Reason == packets.NormalDisconnection {
		ev.Reason.Name = "normal disconnection" // 0x00 on DISCONNECT (String says "success")
	}
	who(c, &ev)
	l.record(ev)
}

// PluginEvent is what the plugin host reports (the binary translates
// host.Event: ops does not import host).
type PluginEvent struct {
	Class   Class // ClassPluginLoad, ClassPluginSwap or ClassPluginFailure
	Plugin  string
	Path    string
	Hash    string
	OldHash string
	Cause   string // failure: load, reload, trap, deadline
	Point   string // trap, deadline: the extension point
	Err     error
}

// Plugin records a plugin load, swap or failure; failures are rate-limited
// per plugin and cause, since a broken plugin can trap on every message.
func (l *Logger) Plugin(pe PluginEvent) {
	if !l.Enabled(pe.Class) {
		return
	}
	ev := Event{Class: pe.Class, Plugin: pe.Plugin, Path: pe.Path, Hash: pe.Hash, OldHash: pe.OldHash,
		Action: strings.TrimSpace(pe.Cause + " " + pe.Point), Error: errText(pe.Err)}
	if pe.Class == ClassPluginFailure {
		l.limited(ev, pe.Plugin+" "+pe.Cause)
		return
	}
	l.record(ev)
}

// AdminAction records an admin API action: actor (the authenticated user,
// or "" when the API has no auth), its remote address, the action and its
// target (a client id, "reload"…), and err if it failed.
func (l *Logger) AdminAction(actor, remote, action, target string, err error) {
	if !l.Enabled(ClassAdmin) {
		return
	}
	l.record(Event{Class: ClassAdmin, Actor: actor, Remote: remote, Action: action, Target: target, Error: errText(err)})
}

// ConfigReload records a config reload: what asked for it (SIGHUP, the file
// changed, the admin API), the keys applied, those that need a restart, and
// err if the reload failed (and so changed nothing).
func (l *Logger) ConfigReload(trigger string, applied, needsRestart []string, err error) {
	if !l.Enabled(ClassConfigReload) {
		return
	}
	l.record(Event{Class: ClassConfigReload, Trigger: trigger, Applied: applied, NeedsRestart: needsRestart, Error: errText(err)})
}

// Quorum records a cluster node losing (ok false) or regaining its
// JetStream quorum: from then on it refuses, or accepts again, QoS ≥ 1
// publishes and persistent sessions (decision 0057). Action is
// "quorum_lost" or "quorum_regained", Target the node, MembersUp the
// nodes it saw up.
func (l *Logger) Quorum(node string, ok bool, membersUp []string) {
	if !l.Enabled(ClassCluster) {
		return
	}
	action := "quorum_lost"
	if ok {
		action = "quorum_regained"
	}
	l.record(Event{Class: ClassCluster, Action: action, Target: node, MembersUp: membersUp})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// hostOf is addr without its port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// limited records ev unless its class has recorded too many for key (or
// for all keys) this minute; the count held back rides on the next event
// recorded, or on a summary event when the key falls quiet (summary).
func (l *Logger) limited(ev Event, key string) {
	k := string(ev.Class) + "\x00" + key
	n, ok := l.perKey.Allow(k)
	if !ok {
		return
	}
	m, ok := l.perClass.Allow(string(ev.Class))
	if !ok {
		// This one is lost to the class limit; what the key held back is
		// carried by the class summary's count.
		l.summary(string(ev.Class), n)
		return
	}
	ev.Suppressed = n + m
	l.record(ev)
}

// summary records a count of events held back for key (class, or class and
// key as limited builds it).
func (l *Logger) summary(key string, n uint64) {
	if n == 0 {
		return
	}
	class, who, _ := strings.Cut(key, "\x00")
	ev := Event{Class: Class(class), Summary: true, Suppressed: n}
	switch Class(class) {
	case ClassAuthFailure:
		ev.Remote = who
	case ClassAuthzDenied:
		ev.ClientID = who
	case ClassPluginFailure:
		ev.Plugin, ev.Action, _ = strings.Cut(who, " ")
	}
	l.record(ev)
}
