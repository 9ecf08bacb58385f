package fabric_test

import (
	"fmt"
	"hash/fnv"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// Publishers on one node whose client ids share an ingest shard, all at
// once: their Forwards meet in the node's Commits and go out as batches
// (decision 0061). The subscriber on another node gets every message once,
// in each publisher's order, QoS 2 included, none with DUP; the third node,
// which has no subscriber, reads them all too.
func TestConcurrentPublishersOfOneShardCrossNodesThroughBatches(t *testing.T) {
	nodes := startJSCluster(t, 3, "pb", false)
	sub, _ := dialJS(t, nodes[2], "sub", true)
	sub.subscribe(t, paho.SubscribeOptions{Topic: "bb/#", QoS: 2})
	var ids []string
	for i := 0; len(ids) < 6; i++ {
		id := fmt.Sprintf("bp%d", i)
		h := fnv.New32a()
		h.Write([]byte(id))
		if h.Sum32()%4 == 1 { // shard 1 of 4 (store/jetstream's rule)
			ids = append(ids, id)
		}
	}
	const each = 60
	var wg sync.WaitGroup
	for i, id := range ids {
		pub, _ := dialJS(t, nodes[0], id, false)
		wg.Go(func() { publishN(t, pub, id, "bb/"+id, byte(1+i%2), 0, each) })
	}
	var r received
	for range len(ids) * each {
		m := sub.expect(t)
		if m.Duplicate() {
			t.Fatalf("DUP on %q: nothing was read again", m.Payload)
		}
		r.add(t, m)
	}
	wg.Wait()
	sub.expectNone(t)
	eventually(t, "the third node read every message", func() bool { return nodes[1].fab.Stats().Ingested == uint64(len(ids)*each) })
	t.Logf("the subscriber's node read %d batches (%+v)", nodes[2].fab.Stats().Batches, nodes[2].fab.Stats())
}
