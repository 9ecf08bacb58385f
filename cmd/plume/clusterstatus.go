package main

import (
	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/core/broker"
)

// clusterStatus is the node's membership and health, and its fabric's
// counters, as the broker shows them on $SYS, the admin API and /metrics
// (broker.Options.Cluster; core does not import cluster/).
func clusterStatus(n *node.Node, f *fabric.Fabric) func() broker.ClusterStatus {
	return func() broker.ClusterStatus {
		h := n.Health()
		s := broker.ClusterStatus{Node: n.Name(), Quorum: h.Quorum, MetaLeader: h.MetaLeader}
		for _, m := range n.Members() {
			s.Members = append(s.Members, broker.ClusterMember{Name: m.Name, Self: m.Self, Up: m.Up, Leader: m.Leader})
		}
		if f != nil {
			st := f.Stats()
			s.Fabric = []broker.ClusterCounter{
				{Name: "published", Value: st.Published}, {Name: "received", Value: st.Received},
				{Name: "routed", Value: st.Routed}, {Name: "shared", Value: st.Shared},
				{Name: "duplicates", Value: st.Duplicates}, {Name: "own", Value: st.Own},
				{Name: "malformed", Value: st.Malformed}, {Name: "dropped", Value: st.Dropped},
				{Name: "too_long", Value: st.TooLong},
			}
		}
		return s
	}
}
