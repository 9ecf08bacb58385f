package topics

import "sync/atomic"

// Group is the set of members of one shared subscription, "$share/{name}/{filter}"
// (MQTT 5.0 §4.8.2). Each message that matches the filter goes to one member, which the
// broker chooses with Pick.
//
// The members are a copy-on-write slice: the Router replaces it under its write lock,
// and Pick reads a snapshot without locking, so Pick may call back into the broker
// freely.
type Group struct {
	name    string
	filter  string
	shared  string // "$share/{name}/{filter}", as a client subscribes to it
	members atomic.Pointer[[]Subscription]
	next    atomic.Uint64 // round-robin cursor
}

func newGroup(name, filter string) *Group {
	return &Group{name: name, filter: filter, shared: "$share/" + name + "/" + filter}
}

// load returns the current members; the zero Group has none.
func (g *Group) load() []Subscription {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// Name returns the share name of the group.
func (g *Group) Name() string { return g.name }

// Filter returns the topic filter of the group, without the "$share/{name}/" prefix.
func (g *Group) Filter() string { return g.filter }

// Shared returns the group's filter as a client subscribes to it,
// "$share/{name}/{filter}".
func (g *Group) Shared() string { return g.shared }

// Len returns the number of members.
func (g *Group) Len() int { return len(g.load()) }

// Members returns a snapshot of the members. The caller must not modify it.
func (g *Group) Members() []Subscription { return g.load() }

// Pick chooses the next member round-robin among those for which eligible returns
// true (the broker passes "is the client connected"). When no member is eligible it
// falls back to the member whose turn it is, so that the message can wait in that
// member's session. A nil eligible accepts every member. ok is false only for an
// empty group. Pick is safe for concurrent use; eligible is called without any lock
// held.
func (g *Group) Pick(eligible func(client string) bool) (Subscription, bool) {
	members := g.load()
	n := uint64(len(members))
	if n == 0 {
		return Subscription{}, false
	}
	// Claim a turn atomically so that concurrent Picks start from different members.
	start := g.next.Add(1) - 1
	if eligible == nil {
		return members[start%n], true
	}
	for i := uint64(0); i < n; i++ {
		s := members[(start+i)%n]
		if eligible(s.Client) {
			// Skip the ineligible members passed over, so the next turn starts after s.
			if i > 0 {
				g.next.Add(i)
			}
			return s, true
		}
	}
	return members[start%n], true
}

// put adds or replaces the member with s.Client; it reports a replacement. The
// caller holds the Router's write lock, so there is a single writer. Copying the
// members costs O(members) per join or leave: cheap for the tens of members a
// shared subscription usually has, and it keeps Pick free of locks.
func (g *Group) put(s Subscription) (existed bool) {
	old := g.load()
	for i := range old {
		if old[i].Client == s.Client {
			members := append([]Subscription(nil), old...)
			members[i] = s
			g.members.Store(&members)
			return true
		}
	}
	members := make([]Subscription, len(old), len(old)+1)
	copy(members, old)
	members = append(members, s)
	g.members.Store(&members)
	return false
}

// remove removes the member client and reports whether it was a member. The caller
// holds the Router's write lock.
func (g *Group) remove(client string) bool {
	old := g.load()
	for i := range old {
		if old[i].Client == client {
			members := make([]Subscription, 0, len(old)-1)
			members = append(members, old[:i]...)
			members = append(members, old[i+1:]...)
			g.members.Store(&members)
			return true
		}
	}
	return false
}
