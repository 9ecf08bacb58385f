package admin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/ops/admin"
)

// GET /api/v1/cluster answers a cluster node's status as JSON, and 404 on
// a broker that is no cluster node.
func TestClusterEndpoint(t *testing.T) {
	serve := func(cfg admin.Config) *httptest.ResponseRecorder {
		mux := http.NewServeMux()
		for pattern, h := range admin.Handlers(cfg) {
			mux.Handle(pattern, h)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/cluster", nil))
		return rec
	}
	if rec := serve(admin.Config{}); rec.Code != http.StatusNotFound {
		t.Errorf("no cluster: %d %s, want 404", rec.Code, rec.Body)
	}
	status := broker.ClusterStatus{Node: "n1", Quorum: false, RefusedPublishes: 4,
		Members: []broker.ClusterMember{{Name: "n1", Self: true, Up: true}, {Name: "n2"}}}
	rec := serve(admin.Config{Cluster: func() (broker.ClusterStatus, bool) { return status, true }})
	var got struct {
		Node    string `json:"node"`
		Quorum  *bool  `json:"quorum"`
		Refused uint64 `json:"refused_publishes"`
		Members []struct {
			Name string `json:"name"`
			Up   bool   `json:"up"`
		} `json:"members"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	if got.Node != "n1" || got.Quorum == nil || *got.Quorum || got.Refused != 4 || len(got.Members) != 2 || got.Members[1].Up {
		t.Errorf("GET /api/v1/cluster = %s", rec.Body)
	}
}
