package broker

import (
	"time"

	"github.com/plumemq/plume/core/session"
)

// Fabric carries messages between the nodes of a cluster (decision 0052;
// cluster/fabric implements it over NATS). A broker without one is a single
// node, and every cluster check on its message path is one nil test.
//
// The broker calls Publish once for each message accepted on this node (a
// client's PUBLISH or a will, never a $SYS one nor one that came from a
// peer), after routing it to this node's non-shared subscribers and, for a
// retained message, under its topic's order lock, so that peers see one
// topic's retained messages in this node's order. Shared groups are left to
// the fabric: it picks the node (one of those with members), and that node's
// broker picks the member (RouteShared), so that the choice is cluster-wide.
//
// Interest and SharedInterest are told when this node's set of filters
// changes: a filter's first non-shared subscription and its last one gone; a
// shared group's first member on a filter and its last one gone. They run
// under the router's write lock, in the order of the changes, and must not
// block nor call back into the broker.
//
// None of the methods may keep m beyond the call: its fields are shared with
// this node's deliveries.
type Fabric interface {
	Publish(m *session.Message)
	Interest(filter string, on bool)
	SharedInterest(group, filter string, on bool)
}

// joinFabric makes the router tell f of this node's interest.
func (b *Broker) joinFabric(f Fabric) {
	b.fabric = f
	b.router.SetInterest(func(filter, group string, on bool) {
		if group == "" {
			f.Interest(filter, on)
		} else {
			f.SharedInterest(group, filter, on)
		}
	})
}

// RouteFromPeer routes m, a message another node accepted and its fabric
// carried here, to this node's non-shared subscribers; it is never
// forwarded again. No Local applies by m.Publisher [MQTT-3.8.3-3]; a
// retained m is stored in this node's retained index (or clears it, with an
// empty payload) as for a local publish [MQTT-3.3.1-5] [MQTT-3.3.1-6], and
// each subscriber gets the RETAIN flag its Retain As Published option says
// [MQTT-3.3.1-9] [MQTT-3.3.1-12]. It returns how many sessions took it.
func (b *Broker) RouteFromPeer(m *session.Message) int {
	if isSys(m.Topic) {
		return 0 // each node's $SYS is its own
	}
	if m.Retain {
		defer b.lockTopic(m).Unlock()
		b.retain(m)
	}
	return b.route(m, nil, false)
}

// RouteShared hands m to one member on this node of the shared group name on
// filter, which the fabric picked this node for. It reports false when the
// group has no member here any more (counted as dropped).
func (b *Broker) RouteShared(m *session.Message, name, filter string) bool {
	g := b.router.Group(name, filter)
	if g == nil {
		b.dropShared()
		return false
	}
	return b.deliverShared(m, g, time.Now().UnixNano(), nil)
}
