package takeover_test

import (
	"fmt"
	"testing"
)

// BenchmarkMove is one persistent session with one subscription and 10
// queued QoS 1 messages moving to the other of two in-process nodes: from
// CONNECT to CONNACK (let-go request, the owner's commit, fetch, claim,
// install) and the queue delivered.
func BenchmarkMove(b *testing.B) {
	nodes := startNodes(b, runJetStream(b), true, "node-a", "node-b")
	// A publisher on each node: the queued messages are published where the
	// session is, so that they are stored before the move. (Published on
	// the other node they cross on core NATS, at most once, this round's
	// ingest aside: a move may overtake them.)
	pubs := []*client{dial(b, nodes[0], "pub-a", dialOpts{clean: true}), dial(b, nodes[1], "pub-b", dialOpts{clean: true})}
	s := dial(b, nodes[0], "mover", dialOpts{expiry: 300})
	s.subscribe(b, "b/#", 1)
	s.leave(b)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for k := range 10 {
			pubs[i%2].publish(b, "b/x", fmt.Sprintf("%d/%d", i, k), 1) // queued for the offline session
		}
		b.StartTimer()
		c := dial(b, nodes[(i+1)%2], "mover", dialOpts{expiry: 300})
		for range 10 {
			c.expect(b)
		}
		b.StopTimer()
		c.leave(b)
		b.StartTimer()
	}
}
