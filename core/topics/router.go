package topics

import "sync"

// Subscription is one client's subscription to one filter. A client has at most one
// subscription per (Filter, Group); subscribing again replaces it [MQTT-3.8.4-3].
type Subscription struct {
	Client            string // client identifier: the key within a filter
	Filter            string // the topic filter, without the "$share/{group}/" prefix
	Group             string // shared-subscription group, "" when not shared
	QoS               byte   // maximum QoS granted
	NoLocal           bool   // [MQTT-3.8.3-3] do not send the client its own publications
	RetainAsPublished bool   // keep the RETAIN flag when forwarding [MQTT-3.3.1-12]
	RetainHandling    byte   // 0, 1 or 2: when to send retained messages on subscribe
	Identifier        uint32 // subscription identifier, 0 for none [MQTT-3.3.4-3]
}

// Matches receives the result of Router.Match. Reuse one per goroutine (after Reset)
// so that matching allocates nothing once its slices have grown.
type Matches struct {
	// Subs holds every non-shared subscription whose filter matches the topic. A
	// client with several overlapping filters appears once per filter.
	Subs []Subscription
	// Groups holds each shared-subscription group with a matching filter, once.
	Groups []*Group
}

// Reset empties m and keeps its capacity.
func (m *Matches) Reset() {
	clear(m.Subs) // drop the strings so the collector may reclaim them
	m.Subs = m.Subs[:0]
	clear(m.Groups)
	m.Groups = m.Groups[:0]
}

// subKey names one subscription of a client.
type subKey struct {
	filter string
	group  string
}

// Router is the subscription index: a trie of filter levels. It is safe for
// concurrent use. Match holds a read lock only; Subscribe and Unsubscribe take the
// write lock.
type Router struct {
	mu      sync.RWMutex
	root    node
	nodes   int                            // trie nodes below the root
	clients map[string]map[subKey]struct{} // client -> its subscriptions
	count   int
	// interest, when set, hears of each filter's first subscription and
	// last one gone (SetInterest); nil costs one test per change.
	interest func(filter, group string, on bool)
}

// SetInterest makes r call fn when a filter gains its first non-shared
// subscription (group "", on true) or loses its last (on false), and when a
// shared group on a filter gains its first member or loses its last (group
// its name): what a cluster node tells its peers it wants. fn runs under r's
// write lock, so that the calls come in the order of the changes; it must
// not block nor call r. Set it before the first Subscribe.
func (r *Router) SetInterest(fn func(filter, group string, on bool)) {
	r.mu.Lock()
	r.interest = fn
	r.mu.Unlock()
}

// NewRouter returns an empty Router.
func NewRouter() *Router {
	return &Router{clients: make(map[string]map[subKey]struct{})}
}

// Subscribe adds s, or replaces the subscription with the same Client, Filter and
// Group [MQTT-3.8.4-3]; existed reports a replacement. s.Filter must already be valid
// (see ValidateFilter) and carry no "$share/" prefix.
func (r *Router) Subscribe(s Subscription) (existed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.insert(s.Filter)
	if s.Group == "" {
		existed = n.putSub(s)
		if r.interest != nil && !existed && len(n.subs) == 1 {
			r.interest(s.Filter, "", true)
		}
	} else {
		g := n.group(s.Group)
		if g == nil {
			g = newGroup(s.Group, s.Filter)
			n.groups = append(n.groups, g)
			if r.interest != nil {
				r.interest(s.Filter, s.Group, true)
			}
		}
		existed = g.put(s)
	}
	if !existed {
		keys := r.clients[s.Client]
		if keys == nil {
			keys = make(map[subKey]struct{})
			r.clients[s.Client] = keys
		}
		keys[subKey{s.Filter, s.Group}] = struct{}{}
		r.count++
	}
	return existed
}

// Unsubscribe removes the client's subscription to filter, given as the client sent
// it ("$share/{group}/{filter}" for a shared one). It reports whether there was one.
func (r *Router) Unsubscribe(client, filter string) bool {
	group, inner, shared, err := ParseShared(filter)
	if err != nil {
		return false
	}
	if !shared {
		inner = filter
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.remove(client, inner, group) {
		return false
	}
	keys := r.clients[client]
	delete(keys, subKey{inner, group})
	if len(keys) == 0 {
		r.forget(client)
	}
	return true
}

// forget drops client from the client index. A Go map never shrinks, so once the
// last client has gone the index is replaced, and the memory comes back.
func (r *Router) forget(client string) {
	delete(r.clients, client)
	if len(r.clients) == 0 {
		r.clients = make(map[string]map[subKey]struct{})
	}
}

// UnsubscribeAll removes every subscription of client, as when its session ends, and
// returns how many there were.
func (r *Router) UnsubscribeAll(client string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	removed := 0
	for k := range r.clients[client] {
		if r.remove(client, k.filter, k.group) {
			removed++
		}
	}
	r.forget(client)
	return removed
}

// remove deletes one subscription and prunes the nodes it leaves empty. The caller
// holds the write lock and updates r.clients.
func (r *Router) remove(client, filter, group string) bool {
	n := r.find(filter)
	if n == nil {
		return false
	}
	if group == "" {
		if !n.deleteSub(client) {
			return false
		}
		if r.interest != nil && len(n.subs) == 0 {
			r.interest(filter, "", false)
		}
	} else {
		g := n.group(group)
		if g == nil || !g.remove(client) {
			return false
		}
		if g.Len() == 0 {
			n.deleteGroup(g)
			if r.interest != nil {
				r.interest(filter, group, false)
			}
		}
	}
	r.count--
	r.prune(n)
	return true
}

// Match appends to m every non-shared subscription whose filter matches topic, and
// each shared group with a matching filter, once. topic must be a valid topic name.
// Match holds only the read lock and allocates nothing when m has capacity.
func (r *Router) Match(topic string, m *Matches) {
	r.mu.RLock()
	r.root.match(topic, 0, true, len(topic) > 0 && topic[0] == '$', m)
	r.mu.RUnlock()
}

// Group returns the shared-subscription group name on filter (without the
// "$share/" prefix), or nil when it has no members.
func (r *Router) Group(name, filter string) *Group {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.find(filter); n != nil {
		return n.group(name)
	}
	return nil
}

// Count returns the number of subscriptions, shared ones included.
func (r *Router) Count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// Clients returns the number of clients with at least one subscription.
func (r *Router) Clients() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.clients)
}
