package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
)

// BenchmarkPairs: publisher → subscriber pairs, each on its own topic, QoS 1
// (each publisher waits for its PUBACK), on one node and across two nodes
// of a 3-node cluster in the same run. ns/op is per message delivered.
func BenchmarkPairs(b *testing.B) {
	const pairs = 4
	b.Run("single-node", func(b *testing.B) {
		nd := startSingle(b)
		runPairs(b, pairs, nd, nd)
	})
	b.Run("cross-node", func(b *testing.B) {
		nodes := startCluster(b, 3)
		runPairs(b, pairs, nodes[0], nodes[1])
	})
}

// startSingle starts a broker with no fabric: one node, as plume runs today.
func startSingle(t testing.TB) *node {
	t.Helper()
	b, err := broker.New(broker.Options{AllowAnonymous: true, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nd := &node{name: "single", b: b, addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { nd.done <- b.Serve(l, "bench") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-nd.done; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return nd
}

func runPairs(b *testing.B, pairs int, pubNode, subNode *node) {
	subs := make([]*client, pairs)
	pubs := make([]*client, pairs)
	for i := range pairs {
		subs[i] = dial(b, subNode, fmt.Sprintf("bsub-%d", i))
		subs[i].subscribe(b, paho.SubscribeOptions{Topic: fmt.Sprintf("pair/%d", i), QoS: 1})
		if pubNode != subNode {
			pubNode.awaitSubs(b, fmt.Sprintf("pair/%d", i), "", subNode)
		}
		pubs[i] = dial(b, pubNode, fmt.Sprintf("bpub-%d", i))
	}
	per := max(b.N/pairs, 1)
	payload := make([]byte, 64)
	b.ResetTimer()
	errs := make(chan error, pairs)
	for i := range pairs {
		go func() {
			for range per {
				if _, err := pubs[i].Publish(context.Background(), &paho.Publish{Topic: fmt.Sprintf("pair/%d", i), QoS: 1, Payload: payload}); err != nil {
					errs <- err
					return
				}
			}
			for range per {
				select {
				case <-subs[i].msgs:
				case <-time.After(wait):
					errs <- errors.New("a message did not arrive")
					return
				}
			}
			errs <- nil
		}()
	}
	for range pairs {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(per*pairs)/b.Elapsed().Seconds(), "msgs/s")
}
