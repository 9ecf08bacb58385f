package cluster

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// A node cut off from the JetStream quorum refuses what it could not
// replicate and serves the rest (decision 0057): with n2 and n3 stopped,
// n1 answers a 5.0 QoS 1 PUBLISH with PUBACK 0x83 and a QoS 2 one with
// PUBREC 0x83, closes a 3.1.1 QoS 1 publisher unacknowledged, refuses
// persistent CONNECTs (5.0 0x88, 3.1.1 return code 3), and still connects
// clean sessions and carries QoS 0 between them. With n2 and n3 back, the
// same kinds of clients are served again, with no restart of n1.
func TestANodeWithoutQuorumRefusesWhatItCannotReplicate(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	pub := dialMQTT(t, n1, &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "part-pub"})
	pub.publish(&packets.Publish{Topic: "part/before", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := pub.ack(packets.TypePuback, 1); a.Reason.IsError() {
		t.Fatalf("QoS 1 on a whole cluster: PUBACK %v", a.Reason)
	}

	mark := n1.logSize(t)
	n2.stop()
	n3.stop()
	stopped := time.Now()
	n1.awaitLog(t, mark, "cluster: quorum lost")
	t.Logf("n1 refusing %s after n2 and n3 stopped", time.Since(stopped).Round(time.Millisecond))

	pub.publish(&packets.Publish{Topic: "part/q1", QoS: 1, PacketID: 2, Payload: []byte("refused")})
	if a := pub.ack(packets.TypePuback, 2); a.Reason != packets.ImplementationSpecificError ||
		!strings.Contains(a.Properties.ReasonString, "quorum") {
		t.Errorf("QoS 1 without a quorum: PUBACK %v %q, want 0x83 naming the quorum", a.Reason, a.Properties.ReasonString)
	}
	pub.publish(&packets.Publish{Topic: "part/q2", QoS: 2, PacketID: 3, Payload: []byte("refused")})
	if a := pub.ack(packets.TypePubrec, 3); a.Reason != packets.ImplementationSpecificError {
		t.Errorf("QoS 2 without a quorum: PUBREC %v, want 0x83", a.Reason)
	}
	old := dialMQTT(t, n1, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "part-311"})
	old.publish(&packets.Publish{Topic: "part/q1", QoS: 1, PacketID: 1, Payload: []byte("refused")})
	old.expectClosed()

	for _, cp := range persistentConnects() {
		mc := dialRaw(t, n1)
		if ack := mc.connect(cp); ack.Reason != packets.ServerUnavailable {
			t.Errorf("%s (v%d) without a quorum: CONNACK %v, want server unavailable (3.1.1: return code 3)",
				cp.ClientID, cp.ProtocolVersion, ack.Reason)
		}
	}

	// The admin API and /metrics say so.
	var st struct {
		Quorum  bool   `json:"quorum"`
		Refused uint64 `json:"refused_publishes"`
		Members []struct {
			Name string `json:"name"`
			Up   bool   `json:"up"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(n1.get(t, "/api/v1/cluster")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Quorum || st.Refused < 2 || len(st.Members) != 3 {
		t.Errorf("GET /api/v1/cluster without a quorum: %+v; want quorum false, 2+ publishes refused, 3 members", st)
	}
	if m := n1.get(t, "/metrics"); !strings.Contains(m, "plume_cluster_quorum 0") ||
		!strings.Contains(m, `plume_cluster_members{state="down"} 2`) {
		t.Errorf("/metrics without a quorum lacks plume_cluster_quorum 0 or 2 members down")
	}

	// Clean sessions and QoS 0 go on, on this node.
	sub := dialMQTT(t, n1, &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "part-sub"})
	sub.subscribe(1, "part/#", 0)
	pub.publish(&packets.Publish{Topic: "part/q0", Payload: []byte("local")})
	if m := sub.nextPublish(); m.Topic != "part/q0" || string(m.Payload) != "local" {
		t.Errorf("QoS 0 without a quorum: the subscriber got %s %q, want part/q0 local", m.Topic, m.Payload)
	}

	mark = n1.logSize(t)
	n2.start()
	n3.start()
	restarted := time.Now()
	c.awaitFormed()
	n1.awaitLog(t, mark, "cluster: quorum regained")
	t.Logf("n1 accepting again %s after n2 and n3 restarted", time.Since(restarted).Round(time.Millisecond))
	pub.publish(&packets.Publish{Topic: "part/after", QoS: 1, PacketID: 4, Payload: []byte("accepted")})
	if a := pub.ack(packets.TypePuback, 4); a.Reason.IsError() {
		t.Errorf("QoS 1 with the quorum back: PUBACK %v", a.Reason)
	}
	if m := n1.get(t, "/metrics"); !strings.Contains(m, "plume_cluster_quorum 1") {
		t.Errorf("/metrics with the quorum back lacks plume_cluster_quorum 1")
	}
	for _, cp := range persistentConnects() {
		mc := dialRaw(t, n1)
		if ack := mc.connect(cp); ack.Reason != packets.Success {
			t.Errorf("%s (v%d) with the quorum back: CONNACK %v, want accepted", cp.ClientID, cp.ProtocolVersion, ack.Reason)
		}
	}
}

// persistentConnects are CONNECTs asking for a session the cluster keeps.
func persistentConnects() []*packets.Connect {
	expiring := &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "part-expiring"}
	expiring.Properties.SessionExpiry = 300
	expiring.Properties.Set(packets.PropSessionExpiry)
	return []*packets.Connect{
		{ProtocolVersion: packets.V5, ClientID: "part-resume"},
		expiring,
		{ProtocolVersion: packets.V311, ClientID: "part-311-kept"},
	}
}

// A node stopped with SIGTERM drains: with cluster.server_reference set,
// its 5.0 clients get DISCONNECT 0x9C Use another server carrying the
// reference, its 3.1.1 clients are closed, and the persistent session it
// held is in the cluster's session KV, read through another node, for the
// node the client goes to next.
func TestADrainingNodeSendsClientsToAnotherServer(t *testing.T) {
	c := newCluster(t, 3)
	n1, n2 := c.nodes[0], c.nodes[1]
	ref := n2.mqtt + " " + c.nodes[2].mqtt
	f, err := os.OpenFile(n1.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("  server_reference: \"" + ref + "\"\n"); err != nil { // the cluster section is the file's last
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.startAll()

	kept := &packets.Connect{ProtocolVersion: packets.V5, ClientID: "drained"}
	kept.Properties.SessionExpiry = 300
	kept.Properties.Set(packets.PropSessionExpiry)
	v5 := dialMQTT(t, n1, kept)
	v5.subscribe(1, "drain/#", 1)
	v311 := dialMQTT(t, n1, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "drained-311"})

	n1.stop()
	d := v5.expectDisconnect()
	if d.Reason != packets.UseAnotherServer || d.Properties.ServerReference != ref {
		t.Errorf("draining: DISCONNECT %v with Server Reference %q; want use another server with %q",
			d.Reason, d.Properties.ServerReference, ref)
	}
	v311.expectClosed()

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	kv, err := jetStreamAt(t, n2).KeyValue(ctx, "plume_sessions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("drained"))); err != nil {
		t.Errorf("the drained node's persistent session is not in the session KV: %v", err)
	}
}

// get is the body of GET path on the node's operations endpoint, which
// must answer 200.
func (nd *node) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitFor}).Get("http://" + nd.http + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %d %s %v", path, nd.name, resp.StatusCode, b, err)
	}
	return string(b)
}

// logSize is how much the node has logged so far: a mark for awaitLog.
func (nd *node) logSize(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(nd.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// awaitLog waits until the node logs a line with msg after mark.
func (nd *node) awaitLog(t *testing.T, mark int, msg string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		b, err := os.ReadFile(nd.logPath)
		if err == nil && len(b) > mark && strings.Contains(string(b[mark:]), msg) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q within %s", nd.name, msg, waitFor)
		}
		time.Sleep(50 * time.Millisecond) // polling a file for a condition
	}
}

// mqttConn is a raw MQTT client over TCP (core/packets): what a test needs
// to see reason codes the client libraries hide.
type mqttConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	v    byte
}

// dialRaw connects to nd's MQTT listener.
func dialRaw(t *testing.T, nd *node) *mqttConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", nd.mqtt, waitFor)
	if err != nil {
		t.Fatalf("%s: %v", nd.name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &mqttConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dialMQTT connects with cp and wants CONNACK success.
func dialMQTT(t *testing.T, nd *node, cp *packets.Connect) *mqttConn {
	t.Helper()
	mc := dialRaw(t, nd)
	if ack := mc.connect(cp); ack.Reason != packets.Success {
		t.Fatalf("%s: CONNACK %v for %s", nd.name, ack.Reason, cp.ClientID)
	}
	return mc
}

func (mc *mqttConn) connect(cp *packets.Connect) *packets.Connack {
	mc.t.Helper()
	cp.ProtocolName, mc.v = "MQTT", cp.ProtocolVersion
	mc.send(cp)
	ack, ok := mc.next().(*packets.Connack)
	if !ok {
		mc.t.Fatal("the answer to CONNECT is not CONNACK")
	}
	return ack
}

func (mc *mqttConn) send(p packets.Packet) {
	mc.t.Helper()
	_ = mc.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := mc.conn.Write(p.Append(nil, mc.v)); err != nil {
		mc.t.Fatalf("write: %v", err)
	}
}

func (mc *mqttConn) next() packets.Packet {
	mc.t.Helper()
	_ = mc.conn.SetReadDeadline(time.Now().Add(waitFor))
	p, err := packets.ReadPacket(mc.r, mc.v, 0)
	if err != nil {
		mc.t.Fatalf("read: %v", err)
	}
	return p
}

func (mc *mqttConn) publish(p *packets.Publish) { mc.t.Helper(); mc.send(p) }

// ack wants the acknowledgement of kind for id next.
func (mc *mqttConn) ack(kind packets.Type, id uint16) *packets.Ack {
	mc.t.Helper()
	p := mc.next()
	a, ok := p.(*packets.Ack)
	if !ok || a.Kind != kind || a.PacketID != id {
		mc.t.Fatalf("got %T %+v, want %v %d", p, p, kind, id)
	}
	return a
}

func (mc *mqttConn) subscribe(id uint16, filter string, qos byte) {
	mc.t.Helper()
	mc.send(&packets.Subscribe{PacketID: id, Subscriptions: []packets.Subscription{{Filter: filter, QoS: qos}}})
	if a, ok := mc.next().(*packets.Suback); !ok || a.PacketID != id || a.Reasons[0].IsError() {
		mc.t.Fatalf("SUBSCRIBE %s: %+v", filter, a)
	}
}

func (mc *mqttConn) nextPublish() *packets.Publish {
	mc.t.Helper()
	p, ok := mc.next().(*packets.Publish)
	if !ok {
		mc.t.Fatal("the next packet is not PUBLISH")
	}
	return p
}

func (mc *mqttConn) expectDisconnect() *packets.Disconnect {
	mc.t.Helper()
	d, ok := mc.next().(*packets.Disconnect)
	if !ok {
		mc.t.Fatal("the next packet is not DISCONNECT")
	}
	return d
}

// expectClosed wants the server to close the connection with nothing more.
func (mc *mqttConn) expectClosed() {
	mc.t.Helper()
	_ = mc.conn.SetReadDeadline(time.Now().Add(waitFor))
	b, err := io.ReadAll(mc.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		mc.t.Fatal("the connection is still open")
	}
	if len(b) > 0 {
		mc.t.Fatalf("%d more bytes before the close: % x", len(b), b)
	}
}
