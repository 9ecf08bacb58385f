package topics

import (
	"strings"
	"sync"
)

// Retained is the retained-message index: one value per topic name, found by topic
// filter [MQTT-3.3.1-5]. It is a trie of topic levels, so Match walks only the
// branches a filter can reach. It is safe for concurrent use.
type Retained[T any] struct {
	mu    sync.RWMutex
	root  rnode[T]
	nodes int // trie nodes below the root
	count int
}

// rnode is one level of the retained trie.
type rnode[T any] struct {
	parent   *rnode[T]
	key      string
	children map[string]*rnode[T]
	topic    string // the whole topic name, set when has is true
	value    T
	has      bool
}

// NewRetained returns an empty index.
func NewRetained[T any]() *Retained[T] {
	return &Retained[T]{}
}

// Set stores v as the retained value of topic, replacing any earlier one
// [MQTT-3.3.1-5]. topic must be a valid topic name (see ValidateName).
func (r *Retained[T]) Set(topic string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	for i := 0; i >= 0; {
		var level string
		level, i = nextLevel(topic, i)
		c := n.children[level]
		if c == nil {
			c = &rnode[T]{parent: n, key: strings.Clone(level)}
			if n.children == nil {
				n.children = make(map[string]*rnode[T])
			}
			n.children[c.key] = c
			r.nodes++
		}
		n = c
	}
	if !n.has {
		n.topic = strings.Clone(topic)
		n.has = true
		r.count++
	}
	n.value = v
}

// Delete removes the retained value of topic, as a retained PUBLISH with an empty
// payload does [MQTT-3.3.1-6]; it reports whether there was one.
func (r *Retained[T]) Delete(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(topic)
	if n == nil || !n.has {
		return false
	}
	var zero T
	n.value, n.topic, n.has = zero, "", false
	r.count--
	for n.parent != nil && !n.has && len(n.children) == 0 {
		p := n.parent
		delete(p.children, n.key)
		if len(p.children) == 0 {
			p.children = nil
		}
		n.parent = nil
		r.nodes--
		n = p
	}
	return true
}

// Get returns the retained value of topic.
func (r *Retained[T]) Get(topic string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.find(topic); n != nil && n.has {
		return n.value, true
	}
	var zero T
	return zero, false
}

// find returns the node for topic, or nil. The caller holds the lock.
func (r *Retained[T]) find(topic string) *rnode[T] {
	n := &r.root
	for i := 0; i >= 0 && n != nil; {
		var level string
		level, i = nextLevel(topic, i)
		n = n.children[level]
	}
	return n
}

// Len returns the number of retained topics.
func (r *Retained[T]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// Match calls fn for each retained topic that filter matches, with the same rules as
// Router.Match ('$' topics are not matched by a filter starting with a wildcard
// [MQTT-4.7.2-1]), until fn returns false. The order is unspecified. fn runs under
// the index's read lock: it must not call back into r, and should not block.
func (r *Retained[T]) Match(filter string, fn func(topic string, v T) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.root.match(filter, 0, true, fn)
}

// match walks the nodes below n that filter[i:] reaches; it returns false once fn
// has asked to stop.
func (n *rnode[T]) match(filter string, i int, root bool, fn func(string, T) bool) bool {
	if i < 0 {
		return !n.has || fn(n.topic, n.value)
	}
	level, next := nextLevel(filter, i)
	switch level {
	case "#":
		// "sport/#" matches "sport" itself [MQTT-4.7.1-1].
		if !root && n.has && !fn(n.topic, n.value) {
			return false
		}
		for k, c := range n.children {
			if root && isDollar(k) { // [MQTT-4.7.2-1]
				continue
			}
			if !c.all(fn) {
				return false
			}
		}
		return true
	case "+":
		for k, c := range n.children {
			if root && isDollar(k) { // [MQTT-4.7.2-1]
				continue
			}
			if !c.match(filter, next, false, fn) {
				return false
			}
		}
		return true
	}
	if c := n.children[level]; c != nil {
		return c.match(filter, next, false, fn)
	}
	return true
}

// all calls fn for n and every retained topic below it.
func (n *rnode[T]) all(fn func(string, T) bool) bool {
	if n.has && !fn(n.topic, n.value) {
		return false
	}
	for _, c := range n.children {
		if !c.all(fn) {
			return false
		}
	}
	return true
}

func isDollar(level string) bool { return len(level) > 0 && level[0] == '$' }
