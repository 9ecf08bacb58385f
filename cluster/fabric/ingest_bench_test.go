package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// BenchmarkIngestPairs: cross-node QoS 1 pairs (publisher on one node,
// subscriber on another of 3, each publisher waiting for its PUBACK) with
// a JetStream store on every node, through the ingest (decision 0055) and
// through round 1's core NATS path, in the same run. ns/op is per message
// delivered.
func BenchmarkIngestPairs(b *testing.B) {
	const pairs = 4
	for _, c := range []struct {
		name     string
		coreOnly bool
	}{{"core-nats", true}, {"ingest", false}} {
		b.Run(c.name, func(b *testing.B) {
			nodes := startJSCluster(b, 3, fmt.Sprintf("bp%d", time.Now().UnixNano()%1e6), c.coreOnly)
			runIngestPairs(b, pairs, nodes[0], nodes[1])
		})
	}
}

func runIngestPairs(b *testing.B, pairs int, pubNode, subNode *jsNode) {
	subs := make([]*client, pairs)
	pubs := make([]*client, pairs)
	for i := range pairs {
		subs[i], _ = dialJS(b, subNode, fmt.Sprintf("bsub-%d", i), false)
		subs[i].subscribe(b, paho.SubscribeOptions{Topic: fmt.Sprintf("pair/%d", i), QoS: 1})
		pubs[i], _ = dialJS(b, pubNode, fmt.Sprintf("bpub-%d", i), false)
		// The subscription reaches the other servers a moment after its
		// SUBACK on core NATS: probe until one arrives.
		for probed := false; !probed; {
			pubs[i].publish(b, &paho.Publish{Topic: fmt.Sprintf("pair/%d", i), QoS: 1, Payload: []byte("probe")})
			select {
			case <-subs[i].msgs:
				probed = true
			case <-time.After(100 * time.Millisecond):
			}
		}
		for len(subs[i].msgs) > 0 {
			<-subs[i].msgs
		}
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
			for got := 0; got < per; {
				select {
				case m := <-subs[i].msgs:
					if string(m.Payload) != "probe" {
						got++
					}
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
