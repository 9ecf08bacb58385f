//go:build unix

package cluster

import (
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// Two of three nodes frozen rather than gone (SIGSTOP: their routes stay
// open, nothing answers on them) are a lost quorum too: the meta group
// notices, n1 refuses QoS 1, and accepts it again once they are thawed.
func TestAFrozenMajorityIsALostQuorum(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	pub := dialMQTT(t, n1, &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "frozen-pub"})

	mark := n1.logSize(t)
	n2.signal(t, syscall.SIGSTOP)
	n3.signal(t, syscall.SIGSTOP)
	frozen := time.Now()
	n1.awaitLog(t, mark, "cluster: quorum lost")
	t.Logf("n1 refusing %s after n2 and n3 froze", time.Since(frozen).Round(time.Millisecond))
	pub.publish(&packets.Publish{Topic: "frozen/q1", QoS: 1, PacketID: 1, Payload: []byte("refused")})
	if a := pub.ack(packets.TypePuback, 1); a.Reason != packets.ImplementationSpecificError {
		t.Errorf("QoS 1 with the majority frozen: PUBACK %v, want 0x83", a.Reason)
	}

	mark = n1.logSize(t)
	n2.signal(t, syscall.SIGCONT)
	n3.signal(t, syscall.SIGCONT)
	thawed := time.Now()
	n1.awaitLog(t, mark, "cluster: quorum regained")
	t.Logf("n1 accepting again %s after n2 and n3 thawed", time.Since(thawed).Round(time.Millisecond))
	pub.publish(&packets.Publish{Topic: "frozen/q1", QoS: 1, PacketID: 2, Payload: []byte("accepted")})
	if a := pub.ack(packets.TypePuback, 2); a.Reason.IsError() {
		t.Errorf("QoS 1 with the majority thawed: PUBACK %v", a.Reason)
	}
}

// signal sends sig to the node's process.
func (nd *node) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	nd.mu.Lock()
	p := nd.proc
	nd.mu.Unlock()
	if p == nil {
		t.Fatalf("%s is not running", nd.name)
	}
	if err := p.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v", nd.name, err)
	}
}
