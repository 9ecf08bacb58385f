package broker

import (
	"hash/maphash"
	"sync"

	"github.com/plumemq/plume/core/session"
)

// topicOrder puts the retained publishes of one topic in one order: a
// retained message is stored and routed under its topic's lock, so the
// message routed last is the one the retained slot keeps (issue 16, failure
// 2). Without it two publishers could store A, store B, route B, route A, and
// every live subscriber would end on A while B stayed retained.
//
// The locks are striped by a hash of the topic: unrelated topics rarely share
// a stripe, and a publish that is not retained takes none, so publishes are
// never serialised broker-wide (docs/decisions/0012-delivery-under-churn.md).
type topicOrder struct {
	seed    maphash.Seed
	stripes [orderStripes]paddedMutex
}

// orderStripes is a power of two: with 256 stripes two busy retained topics
// share one about once in 256 pairs, and the array is 16 KiB per broker.
const orderStripes = 256

// paddedMutex keeps each stripe on its own cache line, so publishers on
// different stripes do not slow each other down through false sharing.
type paddedMutex struct {
	sync.Mutex
	_ [64 - 8]byte
}

func newTopicOrder() *topicOrder { return &topicOrder{seed: maphash.MakeSeed()} }

// of returns the lock of topic's stripe.
func (o *topicOrder) of(topic string) *sync.Mutex {
	return &o.stripes[maphash.String(o.seed, topic)&(orderStripes-1)].Mutex
}

// lockTopic takes the order lock of m's topic and returns it locked. The
// orderWait test seam sees a publish that has to wait.
func (b *Broker) lockTopic(m *session.Message) *sync.Mutex {
	mu := b.order.of(m.Topic)
	if !mu.TryLock() {
		if b.orderWait != nil {
			b.orderWait(m)
		}
		mu.Lock()
	}
	return mu
}
