package admin

import (
	"net/http"

	"github.com/plumemq/plume/core/broker"
)

// cluster is GET /api/v1/cluster: this node's membership and health, and
// what it refused for want of a quorum (broker.ClusterStatus); 404 on a
// broker that is no cluster node.
func (a *api) cluster(w http.ResponseWriter, _ *http.Request) {
	if a.cfg.Cluster == nil {
		writeError(w, http.StatusNotFound, "not a cluster node: the config has no cluster section")
		return
	}
	s, ok := a.cfg.Cluster()
	if !ok {
		writeError(w, http.StatusNotFound, "not a cluster node: the config has no cluster section")
		return
	}
	if s.Members == nil {
		s.Members = []broker.ClusterMember{} // [] rather than null for a client that ranges over it
	}
	writeJSON(w, http.StatusOK, s)
}
