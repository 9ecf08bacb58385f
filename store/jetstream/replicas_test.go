package jetstream

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/storetest"
)

// runCluster starts three in-process NATS servers with JetStream, routed to
// each other over loopback, and returns them once the JetStream meta group
// has a leader.
func runCluster(t testing.TB) []*server.Server {
	t.Helper()
	// Client ports are reserved with the route ports, all listeners held
	// until every port is known: a random client port could otherwise be a
	// route port reserved and freed here before its server bound it.
	ports := make([]int, 6)
	var ls []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var routes []*url.URL
	for i := range 3 {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])})
	}
	srvs := make([]*server.Server, 3)
	for i := range srvs {
		srv, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("s%d", i), Host: "127.0.0.1", Port: ports[3+i],
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "plume-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		srvs[i] = srv
	}
	for _, srv := range srvs {
		if !srv.ReadyForConnections(30 * time.Second) {
			t.Fatalf("%s not ready within 30s", srv.Name())
		}
	}
	// The meta leader is elected among the routed servers: awaited by
	// asking for the account's JetStream info, which needs it.
	nc := connect(t, srvs[0])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JetStream meta leader within a minute: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the election has no event a client can wait on
	}
	return srvs
}

// TestConformanceReplicated runs the store suite with three replicas of
// every stream on a three-server cluster; each phase connects to another
// server, so that Load reads what a quorum stored, not one server's copy.
func TestConformanceReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	srvs := runCluster(t)
	conns := make([]*nats.Conn, len(srvs))
	for i, srv := range srvs {
		conns[i] = connect(t, srv)
	}
	next := 0
	conn := func() *nats.Conn { next++; return conns[next%len(conns)] }
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) session.Store {
			cfg := freshConfig("n1")
			cfg.Replicas = 3
			return openT(t, conn(), cfg)
		},
		Reopen: func(t *testing.T, s session.Store) session.Store {
			js := s.(*Store)
			if err := js.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openT(t, conn(), js.Config())
		},
		Clustered:     true,
		IngestSubject: func(s session.Store) string { return s.(*Store).Config().Prefix + ".in.1.t.a" },
	})
}
