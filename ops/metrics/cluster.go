package metrics

import "github.com/prometheus/client_golang/prometheus"

// A cluster node's metrics (Config.Cluster; decision 0057). Absent on a
// broker that is no cluster node.
var (
	dClusterQuorum  = desc("plume_cluster_quorum", "1 while the node has its JetStream quorum and accepts QoS 1/2 publishes and persistent sessions; 0 while it refuses them.")
	dClusterLeader  = desc("plume_cluster_meta_leader_known", "1 while a JetStream meta leader is known (0 with an external NATS cluster, whose meta group is not visible).")
	dClusterMembers = desc("plume_cluster_members", "Nodes this node knows, itself included, by state.", "state")
	dClusterMember  = desc("plume_cluster_member_up", "1 for each known node up, 0 for each down.", "member")
	dClusterRefused = desc("plume_cluster_refused_total", "QoS 1/2 publishes and persistent-session CONNECTs refused for want of a quorum.", "what")
	dClusterFabric  = desc("plume_cluster_fabric_messages_total", "The routing fabric's counters: envelopes published, received, routed, dropped, ….", "counter")
)

// collectCluster sends the cluster metrics, if this is a node.
func (c *Collector) collectCluster(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	if c.cfg.Cluster == nil {
		return
	}
	s, ok := c.cfg.Cluster()
	if !ok {
		return
	}
	gauge(dClusterQuorum, bit(s.Quorum))
	gauge(dClusterLeader, bit(s.MetaLeader != ""))
	up := s.Up()
	gauge(dClusterMembers, float64(up), "up")
	gauge(dClusterMembers, float64(len(s.Members)-up), "down")
	for _, m := range s.Members {
		gauge(dClusterMember, bit(m.Up), m.Name)
	}
	counter(dClusterRefused, s.RefusedPublishes, "publish")
	counter(dClusterRefused, s.RefusedConnects, "connect")
	for _, f := range s.Fabric {
		counter(dClusterFabric, f.Value, f.Name)
	}
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
