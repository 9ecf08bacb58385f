package cluster

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Three plume processes, each embedding a NATS server, started together
// with one peers list, form one cluster: every node logs every node up,
// answers MQTT and /readyz, and JetStream replicates a stream made through
// one node to the others. A node stopped is logged down by the others, who
// stay ready (2 of 3 is a majority), and logged up again when it returns;
// the last node left alone is not ready.
func TestThreeNodesFormACluster(t *testing.T) {
	c := newCluster(t, 3)
	began := time.Now()
	c.startAll()
	t.Logf("3 processes started to cluster formed and serving: %s", time.Since(began).Round(time.Millisecond))
	for _, nd := range c.nodes {
		if code, body := nd.ready(); code != 200 {
			t.Errorf("%s /readyz: %d %s", nd.name, code, body)
		}
		mqttConnect(t, nd)
	}

	// JetStream spans the processes: an R3 stream made through n1's NATS
	// client port has replicas on the other two, and n3 reads what n1 wrote.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	js1, js3 := jetStreamAt(t, c.nodes[0]), jetStreamAt(t, c.nodes[2])
	s, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "FORMED", Subjects: []string{"formed.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	ci := s.CachedInfo().Cluster
	peers = append(peers, ci.Leader)
	for _, r := range ci.Replicas {
		peers = append(peers, r.Name)
	}
	slices.Sort(peers)
	if !slices.Equal(peers, c.names()) {
		t.Errorf("the R3 stream lives on %v, want every node %v", peers, c.names())
	}
	if _, err := js1.Publish(ctx, "formed.a", []byte("from n1")); err != nil {
		t.Fatal(err)
	}
	s3, err := js3.Stream(ctx, "FORMED")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s3.GetLastMsgForSubject(ctx, "formed.a"); err != nil || string(m.Data) != "from n1" {
		t.Fatalf("n3 reads %v, %v; want the message n1 stored", m, err)
	}

	// Membership changes are logged by the nodes that see them.
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	n3.stop()
	for _, nd := range []*node{n1, n2} {
		nd.await(waitFor, "seeing n1,n2 up after n3 stopped", func() bool { return slices.Equal(nd.up, []string{"n1", "n2"}) })
		if code, body := nd.ready(); code != 200 {
			t.Errorf("%s /readyz with 2 of 3 nodes up: %d %s; want ready (a majority)", nd.name, code, body)
		}
	}
	began = time.Now()
	n3.start()
	c.awaitFormed()
	t.Logf("n3 restarted to rejoined: %s", time.Since(began).Round(time.Millisecond))

	// Without a majority no meta leader is known: /readyz sends clients
	// elsewhere, since nothing acknowledged could be replicated.
	n2.stop()
	n3.stop()
	began = time.Now()
	deadline := began.Add(waitFor)
	for {
		code, body := n1.ready()
		if code == 503 && strings.Contains(body, "no JetStream meta leader") {
			t.Logf("n1 alone: /readyz 503 %s after the others stopped", time.Since(began).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 alone: /readyz still %d %q after %s; want 503 naming the meta leader", code, body, waitFor)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition: the meta group notices the loss in its own time
	}
}

// mqttConnect checks that the node's broker answers an MQTT 3.1.1 CONNECT
// with CONNACK 0x00.
func mqttConnect(t *testing.T, nd *node) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", nd.mqtt, waitFor)
	if err != nil {
		t.Fatalf("%s: %v", nd.name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor)) // a bound on a hung broker; the verdict does not depend on it
	// CONNECT: protocol MQTT 4, clean session, keep-alive 60, empty client id.
	if _, err := conn.Write([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0}); err != nil {
		t.Fatalf("%s: %v", nd.name, err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatalf("%s: reading CONNACK: %v", nd.name, err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		t.Errorf("%s: CONNACK % x, want 20 02 00 00", nd.name, ack)
	}
}

// jetStreamAt connects to the node's NATS client port.
func jetStreamAt(t *testing.T, nd *node) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect("nats://"+nd.client, nats.Timeout(waitFor))
	if err != nil {
		t.Fatalf("%s: NATS: %v", nd.name, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
