package broker

import "github.com/plumemq/plume/core/session"

// SetRetainSeams installs the test seams of a retained publish: stored runs
// after the retained message is stored and before it is routed; contended runs
// when the publish finds its topic's order lock held by another. Set them
// before any client connects.
func SetRetainSeams(b *Broker, stored, contended func(m *session.Message)) {
	b.retainStored, b.orderWait = stored, contended
}
