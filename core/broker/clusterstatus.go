package broker

import (
	"encoding/json"
	"strconv"

	"github.com/plumemq/plume/core/session"
)

// ClusterStatus is a cluster node's membership and health as $SYS, the
// admin API (GET /api/v1/cluster) and /metrics show it. The binary fills
// it from cluster/node and cluster/fabric (Options.Cluster), which core
// does not import; the refusal counts are the broker's own.
type ClusterStatus struct {
	// Node is this node's name.
	Node string `json:"node"`
	// Quorum: the node accepts QoS ≥ 1 publishes and persistent sessions
	// (Options.Quorum, decision 0057).
	Quorum bool `json:"quorum"`
	// MetaLeader is the JetStream meta leader's name; "" when none is
	// known (no majority), and always with an external NATS cluster.
	MetaLeader string `json:"meta_leader"`
	// Members are the nodes this one knows, itself included, by name.
	Members []ClusterMember `json:"members"`
	// RefusedPublishes, RefusedConnects count what was refused for want of
	// a quorum since start (Broker.QuorumRefusals).
	RefusedPublishes uint64 `json:"refused_publishes"`
	RefusedConnects  uint64 `json:"refused_connects"`
	// Fabric is the routing fabric's counters, in a fixed order.
	Fabric []ClusterCounter `json:"fabric"`
}

// ClusterMember is one node as this node sees it.
type ClusterMember struct {
	Name   string `json:"name"`
	Self   bool   `json:"self,omitempty"`
	Up     bool   `json:"up"`
	Leader bool   `json:"leader,omitempty"` // the JetStream meta leader
}

// ClusterCounter is one counter of the fabric: a snake_case name (a $SYS
// topic level and a metric label) and its value.
type ClusterCounter struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Up counts the members up.
func (s *ClusterStatus) Up() int {
	n := 0
	for _, m := range s.Members {
		if m.Up {
			n++
		}
	}
	return n
}

// Cluster is this node's status, false on a broker that is no cluster node.
func (b *Broker) Cluster() (ClusterStatus, bool) {
	f := b.opts.Cluster
	if f == nil {
		return ClusterStatus{}, false
	}
	s := f()
	s.RefusedPublishes, s.RefusedConnects = b.QuorumRefusals()
	return s, true
}

// ClusterSysTopics lists the topics a cluster node publishes under
// $SYS/broker/cluster/ besides the counters of its fabric
// (cluster/fabric/<counter>), with what each carries: docs/sys-topics.md
// prints them.
func ClusterSysTopics() [][2]string {
	return [][2]string{
		{"cluster/node", "This node's name."},
		{"cluster/quorum", "1 while the node has its JetStream quorum and accepts QoS 1/2 publishes and persistent sessions, 0 while it refuses them (decision 0057)."},
		{"cluster/meta_leader", "The JetStream meta leader's name; empty while none is known."},
		{"cluster/members/total", "The nodes this node knows, itself included."},
		{"cluster/members/up", "Of those, the nodes up: this one, and those its routes reach."},
		{"cluster/members", "The members as JSON: [{\"name\", \"self\", \"up\", \"leader\"}]."},
		{"cluster/refused/publishes", "QoS 1/2 PUBLISH packets refused for want of a quorum since start."},
		{"cluster/refused/connects", "Persistent-session CONNECTs refused for want of a quorum since start."},
		{"cluster/fabric/<counter>", "Each counter of the routing fabric (published, received, routed, …)."},
	}
}

// publishClusterSys publishes the cluster topics, if this is a node.
func (b *Broker) publishClusterSys() {
	s, ok := b.Cluster()
	if !ok {
		return
	}
	members, _ := json.Marshal(s.Members) // plain structs of strings and bools: no error
	quorum := "0"
	if s.Quorum {
		quorum = "1"
	}
	put := func(topic, v string) {
		b.publish(&session.Message{Topic: "$SYS/broker/" + topic, Payload: []byte(v), Retain: true}, nil)
	}
	put("cluster/node", s.Node)
	put("cluster/quorum", quorum)
	put("cluster/meta_leader", s.MetaLeader)
	put("cluster/members/total", strconv.Itoa(len(s.Members)))
	put("cluster/members/up", strconv.Itoa(s.Up()))
	put("cluster/members", string(members))
	put("cluster/refused/publishes", utoa(s.RefusedPublishes))
	put("cluster/refused/connects", utoa(s.RefusedConnects))
	for _, c := range s.Fabric {
		put("cluster/fabric/"+c.Name, utoa(c.Value))
	}
}
