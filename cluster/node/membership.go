package node

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// membershipInterval is how often the node looks at its routes and the
// JetStream meta group to log what changed; Members and Health read the
// server's state when called, not this cache.
const membershipInterval = time.Second

// Member is one node of the cluster as this node sees it.
type Member struct {
	Name   string `json:"name"`
	Self   bool   `json:"self,omitempty"`
	Up     bool   `json:"up"`               // this node, or a route to it is connected
	Leader bool   `json:"leader,omitempty"` // the JetStream meta leader
}

// Health is the node's view of the cluster, for /readyz and $SYS.
type Health struct {
	// Connected: the node's NATS connection is up.
	Connected bool `json:"connected"`
	// MetaLeader is the JetStream meta leader's name, "" when none is known
	// (no majority of nodes up: streams cannot be created or changed) and
	// always "" for an external cluster.
	MetaLeader string `json:"meta_leader"`
	// Members, Up: nodes known and up, this one included. Embedded only.
	Members int `json:"members"`
	Up      int `json:"up"`
	// Quorum: the node accepts QoS ≥ 1 publishes and persistent sessions
	// (Node.Quorum).
	Quorum bool `json:"quorum"`
}

// Members lists the nodes this node knows, sorted by name: itself, every
// node a route connected it to since start and the meta group's peers. A
// node once seen stays listed, down when its route is gone. An external
// node lists the server it is connected to only.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refreshLocked()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Health is the node's state now.
func (n *Node) Health() Health {
	h := Health{Connected: n.nc != nil && n.nc.IsConnected(), Quorum: n.quorum.Load()}
	if n.srv == nil {
		return h // an external cluster's meta group is not visible from a client
	}
	h.MetaLeader = n.metaLeader()
	for _, m := range n.Members() {
		h.Members++
		if m.Up {
			h.Up++
		}
	}
	return h
}

// Ready is nil when the node can use the cluster: connected, and (embedded)
// a JetStream meta leader known; else an error wrapping ErrNotReady.
func (n *Node) Ready() error {
	h := n.Health()
	switch {
	case !h.Connected:
		return fmt.Errorf("%w: not connected to NATS", ErrNotReady)
	case n.srv != nil && h.MetaLeader == "":
		return fmt.Errorf("%w: no JetStream meta leader (%d of %d nodes up)", ErrNotReady, h.Up, h.Members)
	}
	return nil
}

// routeNames is the names of the servers this one has a route to.
func (n *Node) routeNames() []string {
	rz, err := n.srv.Routez(nil)
	if err != nil {
		return nil // only a server shutting down fails it
	}
	var names []string
	for _, r := range rz.Routes {
		// With route pooling a peer has several routes: one name each.
		if r.RemoteName != "" && !slices.Contains(names, r.RemoteName) {
			names = append(names, r.RemoteName)
		}
	}
	return names
}

// metaLeader is the JetStream meta leader's name, "" if none is known. A
// single node without peers runs JetStream unclustered: it leads itself.
func (n *Node) metaLeader() string {
	jz, err := n.srv.Jsz(&server.JSzOptions{Limit: 1})
	switch {
	case err != nil || jz.Disabled:
		return ""
	case jz.Meta == nil:
		return n.name
	}
	return jz.Meta.Leader
}

// refresh updates the membership and logs what changed.
func (n *Node) refresh() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refreshLocked()
}

// refreshLocked updates n.members from the server and logs each change:
// a node up or down, the meta leader gained, changed or lost. n.mu held.
func (n *Node) refreshLocked() {
	if n.srv == nil {
		n.refreshExternalLocked()
		n.judgeExternalLocked()
		return
	}
	up := map[string]bool{n.name: true}
	for _, name := range n.routeNames() {
		up[name] = true
	}
	leader := n.metaLeader()
	if leader != "" {
		up[leader] = true // the meta group hears from it even when a route just went
	}
	for name := range up {
		if _, ok := n.members[name]; !ok {
			n.members[name] = &Member{Name: name, Self: name == n.name}
		}
	}
	// Every flag first, then the lines: each names the whole new set up.
	was := make(map[string]bool, len(n.members))
	for _, m := range n.members {
		was[m.Name] = m.Up
		m.Up, m.Leader = up[m.Name], m.Name == leader
	}
	members := n.upLocked()
	for _, m := range n.members {
		switch {
		case m.Up && !was[m.Name] && !m.Self:
			n.log.Info().Str("peer", m.Name).Strs("members_up", members).Msg("cluster: node up")
		case !m.Up && was[m.Name]:
			n.log.Warn().Str("peer", m.Name).Strs("members_up", members).Msg("cluster: node down")
		}
	}
	if leader != n.leader {
		ev := n.log.Info()
		msg := "cluster: JetStream meta leader elected"
		switch {
		case leader == "":
			ev, msg = n.log.Warn(), "cluster: no JetStream meta leader: fewer than a majority of the nodes are up"
		case n.leader != "":
			msg = "cluster: JetStream meta leader changed"
		}
		ev.Str("leader", leader).Str("previous", n.leader).Msg(msg)
		n.leader = leader
	}
	n.judgeQuorumLocked(len(members), leader)
}

// refreshExternalLocked: an external node's one member is the server its
// connection is on.
func (n *Node) refreshExternalLocked() {
	name := n.nc.ConnectedServerName()
	for k, m := range n.members {
		if k != name {
			m.Up = false
		}
	}
	if name == "" {
		return
	}
	m, ok := n.members[name]
	if !ok {
		m = &Member{Name: name}
		n.members[name] = m
	}
	m.Up = n.nc.IsConnected()
}

// up lists the names of the nodes up.
func (n *Node) up() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upLocked()
}

func (n *Node) upLocked() []string {
	var names []string
	for _, m := range n.members {
		if m.Up {
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names
}

// watch refreshes the membership every membershipInterval until Close.
func (n *Node) watch() {
	defer n.wg.Done()
	t := time.NewTicker(membershipInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if n.srv == nil {
				n.probeJetStream() // a request: not under n.mu
			}
			n.refresh()
		}
	}
}

// natsLogger writes nats-server's log lines through zerolog. Its notices
// (start-up banners, each route made) are debug here: Plume logs the
// membership changes itself; warnings and errors stay what they are.
type natsLogger struct {
	log   zerolog.Logger
	fatal chan<- string // the first fatal error, for Start (awaitListening)
}

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }

// Fatalf: nats-server gave up on something it needs, a listener mostly.
// The binary owns the process (no exit here); Start hears of it.
func (l natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error().Msg(msg)
	select {
	case l.fatal <- msg:
	default: // one is enough; nil after start-up is never ready
	}
}

func (l natsLogger) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any) { l.log.Trace().Msgf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }
