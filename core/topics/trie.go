package topics

import "strings"

// node is one level of the subscription trie. The wildcard children are kept out of
// the map so that matching reaches them without a lookup.
type node struct {
	parent   *node
	key      string // this node's level in its parent ("+" and "#" included)
	children map[string]*node
	plus     *node // child for "+"
	hash     *node // child for "#"

	subs   []Subscription // non-shared subscriptions, in no particular order
	index  map[string]int // client -> position in subs, once there are indexFrom
	groups []*Group       // shared groups, few per node
}

// empty reports whether the node holds nothing and may be pruned.
func (n *node) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// child returns the child for level, or nil.
func (n *node) child(level string) *node {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

// insert returns the node for filter, creating the missing levels.
func (r *Router) insert(filter string) *node {
	n := &r.root
	for i := 0; i >= 0; {
		var level string
		level, i = nextLevel(filter, i)
		c := n.child(level)
		if c == nil {
			// Copy the level out of the filter so the node does not pin the whole string.
			c = &node{parent: n, key: strings.Clone(level)}
			switch level {
			case "+":
				n.plus = c
			case "#":
				n.hash = c
			default:
				if n.children == nil {
					n.children = make(map[string]*node)
				}
				n.children[c.key] = c
			}
			r.nodes++
		}
		n = c
	}
	return n
}

// find returns the node for filter, or nil.
func (r *Router) find(filter string) *node {
	n := &r.root
	for i := 0; i >= 0 && n != nil; {
		var level string
		level, i = nextLevel(filter, i)
		n = n.child(level)
	}
	return n
}

// prune removes n and its ancestors while they are empty, so that memory comes back
// when subscriptions go.
func (r *Router) prune(n *node) {
	for n.parent != nil && n.empty() {
		p := n.parent
		switch {
		case p.plus == n:
			p.plus = nil
		case p.hash == n:
			p.hash = nil
		default:
			delete(p.children, n.key)
			if len(p.children) == 0 {
				p.children = nil // a map never shrinks; drop it
			}
		}
		n.parent = nil
		r.nodes--
		n = p
	}
}

// nextLevel returns the level of s that starts at byte i and the start of the level
// after it, or -1 when it was the last level. Splitting this way allocates nothing.
func nextLevel(s string, i int) (level string, next int) {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return s[i : i+j], i + j + 1
	}
	return s[i:], -1
}

// indexFrom is the number of subscriptions at a node from which a client index is
// kept; below it a linear scan is faster and saves a map per node (most filters
// have one subscriber).
const indexFrom = 16

// position returns the index in n.subs of client's subscription, or -1.
func (n *node) position(client string) int {
	if n.index != nil {
		if i, ok := n.index[client]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Client == client {
			return i
		}
	}
	return -1
}

// putSub adds or replaces the subscription of s.Client; it reports a replacement.
func (n *node) putSub(s Subscription) (existed bool) {
	if i := n.position(s.Client); i >= 0 {
		n.subs[i] = s
		return true
	}
	n.subs = append(n.subs, s)
	switch {
	case n.index != nil:
		n.index[s.Client] = len(n.subs) - 1
	case len(n.subs) >= indexFrom:
		n.index = make(map[string]int, len(n.subs))
		for i := range n.subs {
			n.index[n.subs[i].Client] = i
		}
	}
	return false
}

// deleteSub removes the subscription of client; it reports whether there was one.
func (n *node) deleteSub(client string) bool {
	i := n.position(client)
	if i < 0 {
		return false
	}
	last := len(n.subs) - 1
	if i != last {
		n.subs[i] = n.subs[last]
		if n.index != nil {
			n.index[n.subs[i].Client] = i
		}
	}
	n.subs[last] = Subscription{}
	n.subs = n.subs[:last]
	if n.index != nil {
		delete(n.index, client)
		if len(n.subs) < indexFrom/2 {
			n.index = nil // a map never shrinks; the scan serves again
		}
	}
	if len(n.subs) == 0 {
		n.subs = nil
	} else if cap(n.subs) > 64 && len(n.subs) < cap(n.subs)/4 {
		n.subs = append([]Subscription(nil), n.subs...) // give memory back
	}
	return true
}

// group returns the shared group called name at this node, or nil.
func (n *node) group(name string) *Group {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// deleteGroup removes g from the node.
func (n *node) deleteGroup(g *Group) {
	for i, x := range n.groups {
		if x == g {
			last := len(n.groups) - 1
			n.groups[i] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			break
		}
	}
	if len(n.groups) == 0 {
		n.groups = nil
	}
}

// collect appends the subscriptions and groups held at n.
func (n *node) collect(m *Matches) {
	m.Subs = append(m.Subs, n.subs...)
	m.Groups = append(m.Groups, n.groups...)
}

// match collects every filter below n that matches topic[i:]; i is -1 once the
// whole topic has been consumed. Each filter is reached by at most one path, so no
// subscription or group is collected twice.
func (n *node) match(topic string, i int, root, dollar bool, m *Matches) {
	// [MQTT-4.7.2-1] A filter that starts with a wildcard does not match a '$' topic.
	wild := !(root && dollar)
	// '#' matches the rest of the topic, including no levels at all: "sport/#"
	// matches "sport" [MQTT-4.7.1-1].
	if n.hash != nil && wild {
		n.hash.collect(m)
	}
	if i < 0 {
		n.collect(m)
		return
	}
	level, next := nextLevel(topic, i)
	if c := n.children[level]; c != nil {
		c.match(topic, next, false, dollar, m)
	}
	// '+' matches exactly one level, an empty one included.
	if n.plus != nil && wild {
		n.plus.match(topic, next, false, dollar, m)
	}
}
