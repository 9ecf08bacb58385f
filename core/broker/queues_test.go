package broker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/setting"
)

// publishAll sends n QoS 1 PUBLISHes of payload to topic from c and waits
// until the broker has handled all of them (the PINGRESP after their PUBACKs).
func publishAll(t *testing.T, c *rawClient, topic string, payload []byte, n int) {
	t.Helper()
	var buf []byte
	for i := range n {
		p := packets.Publish{Topic: topic, QoS: 1, PacketID: uint16(i%65535 + 1), Payload: payload}
		buf = p.Append(buf, c.v)
		if len(buf) > 1<<20 || i == n-1 {
			c.write(buf)
			buf = buf[:0]
		}
	}
	c.send(&packets.Pingreq{})
	for {
		p := c.next()
		if p.Type() == packets.TypePingresp {
			return
		}
	}
}

// sysValue waits for the retained $SYS topic to carry want.
func sysValue(t *testing.T, tb *testBroker, topic, want string) {
	t.Helper()
	c, _ := connectRaw(t, tb.addr, v5Connect("sys-reader-"+topic))
	c.subscribe(1, sub("$SYS/broker/"+topic, 0))
	deadline := time.Now().Add(3 * wait)
	got := ""
	for time.Now().Before(deadline) {
		p, err := c.read(time.Until(deadline))
		if err != nil {
			break
		}
		if pub, ok := p.(*packets.Publish); ok {
			if got = string(pub.Payload); got == want {
				return
			}
		}
	}
	t.Fatalf("$SYS/broker/%s = %q, want %q", topic, got, want)
}

// A subscriber that never reads and a publisher of 1 MB messages: the session
// holds at most max_queued_bytes, the rest is dropped, counted per session and
// on $SYS. Before the byte bound it held all 40 (the message cap allowed
// 10,000, about 10 GB).
func TestNonReadingSubscriberHoldsAtMostMaxQueuedBytes(t *testing.T) {
	const limit = 8 << 20
	tb := startBroker(t, broker.Options{AllowAnonymous: true, SysInterval: 20 * time.Millisecond,
		Limits: broker.Limits{MaxQueuedBytes: limit}})
	s, _ := connectRaw(t, tb.addr, persistent("never-reads", 60))
	s.subscribe(1, sub("big/t", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("big-publisher"))
	const n = 40
	payload := make([]byte, 1_000_000)
	publishAll(t, p, "big/t", payload, n)

	st, ok := tb.SessionStats("never-reads")
	if !ok {
		t.Fatal("no session")
	}
	size := int64(len("big/t")+len(payload)) + session.DeliverySlot
	held := st.Inflight + st.Queued
	if st.Bytes > limit || st.Bytes != int64(held)*size || held != limit/int(size) {
		t.Fatalf("session holds %d messages, %d bytes; want %d messages within %d bytes", held, st.Bytes, limit/size, limit)
	}
	if st.Dropped != uint64(n-held) {
		t.Fatalf("session dropped %d, want %d", st.Dropped, n-held)
	}
	if bs := tb.Stats(); bs.DroppedQueueBytes != st.Dropped || bs.QueuedBytes != st.Bytes {
		t.Fatalf("broker counts %d byte-bound drops and %d queued bytes, want %d and %d",
			bs.DroppedQueueBytes, bs.QueuedBytes, st.Dropped, st.Bytes)
	}
	sysValue(t, tb, "messages/dropped/queue_bytes", strconv.FormatUint(st.Dropped, 10))
	sysValue(t, tb, "messages/queued/bytes", strconv.FormatInt(st.Bytes, 10))
}

// Small messages count their Delivery slot against max_queued_bytes: a
// bound of 100 readings with their slots holds exactly 100, and $SYS says
// so. Counting topic and payload alone, the session took all 400 (ten times
// the memory the bound named, docs/decisions/0046).
func TestSmallMessagesCountTheirSlotAgainstMaxQueuedBytes(t *testing.T) {
	payload := []byte("21.5C") // a reading
	size := int64(len("fleet/r")+len(payload)) + session.DeliverySlot
	const k = 100
	tb := startBroker(t, broker.Options{AllowAnonymous: true, SysInterval: 20 * time.Millisecond,
		Limits: broker.Limits{MaxQueuedBytes: setting.ByteSize(k * size)}})
	s, _ := connectRaw(t, tb.addr, persistent("reads-later", 60))
	s.subscribe(1, sub("fleet/r", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("reading-publisher"))
	publishAll(t, p, "fleet/r", payload, 4*k)

	st, ok := tb.SessionStats("reads-later")
	if !ok {
		t.Fatal("no session")
	}
	if held := st.Inflight + st.Queued; held != k || st.Bytes != k*size || st.Dropped != 3*k {
		t.Fatalf("session holds %d messages, %d bytes, dropped %d; want %d, %d, %d",
			held, st.Bytes, st.Dropped, k, k*size, 3*k)
	}
	sysValue(t, tb, "messages/queued/bytes", strconv.FormatInt(k*size, 10))
}

// The broker-wide budget counts a message once per session that holds it;
// past it deliveries are dropped, and what a session held comes back when the
// session ends.
func TestBrokerWideBudgetDropsAndIsGivenBack(t *testing.T) {
	const budget = 6 << 20
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxQueuedBytesTotal: budget}})
	var subs []*rawClient
	for _, id := range []string{"budget-a", "budget-b"} {
		s, _ := connectRaw(t, tb.addr, v5Connect(id)) // session ends with the connection
		s.subscribe(1, sub("budget/t", 1))
		subs = append(subs, s)
	}
	p, _ := connectRaw(t, tb.addr, v5Connect("budget-publisher"))
	payload := make([]byte, 1_000_000)
	const n = 10
	publishAll(t, p, "budget/t", payload, n)

	size := int64(len("budget/t")+len(payload)) + session.DeliverySlot
	fit := budget / size // deliveries the budget holds, whichever session they went to
	st := tb.Stats()
	if st.QueuedBytes != fit*size || st.DroppedMemoryBudget != uint64(2*n-fit) {
		t.Fatalf("queued %d bytes, %d dropped for the budget; want %d bytes, %d dropped",
			st.QueuedBytes, st.DroppedMemoryBudget, fit*size, 2*n-fit)
	}
	for _, s := range subs {
		_ = s.conn.Close()
	}
	eventually(t, "budget given back", func() bool { return tb.Stats().QueuedBytes == 0 })
}

// A QoS 0 subscriber whose write buffer stays full is disconnected after
// SlowConsumerTimeout with 0x97, through the connection's usual end (logged
// at info). Before, it was shed forever.
func TestSlowQoS0ConsumerIsDisconnected(t *testing.T) {
	const timeout = 300 * time.Millisecond
	logs := &logBuffer{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Log: zerolog.New(logs),
		Limits: broker.Limits{MaxWriteBuffer: 64 << 10, SlowConsumerTimeout: timeout}})
	s, _ := connectRaw(t, tb.addr, v5Connect("slow-q0"))
	s.subscribe(1, sub("slow/t", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("slow-q0-publisher"))
	payload := make([]byte, 32<<10)
	start := time.Now()
	deadline := start.Add(10 * wait)
	for tb.Stats().SlowConsumers == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow consumer was never disconnected")
		}
		for range 16 {
			p.publish(&packets.Publish{Topic: "slow/t", Payload: payload})
		}
		p.send(&packets.Pingreq{}) // paces the flood by the broker's reading
		p.next()
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("disconnected after %v, before the %v timeout", d, timeout)
	}
	// The connection ends: whatever was pending, then (5.0) DISCONNECT 0x97.
	var last packets.Packet
	for {
		pk, err := s.read(wait)
		if err != nil {
			break
		}
		last = pk
	}
	if d, ok := last.(*packets.Disconnect); ok && d.Reason != packets.QuotaExceeded {
		t.Fatalf("DISCONNECT %v, want quota exceeded", d.Reason)
	}
	eventually(t, "disconnect logged", func() bool {
		for _, l := range logs.lines(t) {
			if l.Message == "client disconnected" && l.ClientID == "slow-q0" {
				return l.Level == "info" && l.Reason == packets.QuotaExceeded.String()
			}
		}
		return false
	})
	if st := tb.Stats(); st.SlowConsumers != 1 || st.DroppedQoS0 == 0 {
		t.Fatalf("stats %+v, want one slow consumer and QoS 0 drops", st)
	}
}

// Drops to a full offline queue are logged at most once per interval per
// session, and the lines plus their suppressed counts add up to the drops.
// Before, every drop to an offline session wrote a line.
func TestDropsToAnOfflineQueueAreLoggedRateLimited(t *testing.T) {
	logs := &logBuffer{}
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Log: zerolog.New(logs).Level(zerolog.WarnLevel),
		Limits: broker.Limits{MaxQueued: 10}})
	s, _ := connectRaw(t, tb.addr, persistent("offline-full", 600))
	s.subscribe(1, sub("flood/t", 1))
	s.disconnect(packets.NormalDisconnection)
	eventually(t, "session offline", func() bool { return tb.Stats().ClientsConnected == 0 })
	p, _ := connectRaw(t, tb.addr, v5Connect("flooder"))
	const n = 100_000
	start := time.Now()
	publishAll(t, p, "flood/t", []byte("x"), n)
	elapsed := time.Since(start)
	tb.shutdown(t) // reports the counts still held back

	drops := tb.Stats().Dropped
	if drops != n-10 {
		t.Fatalf("%d drops, want %d", drops, n-10)
	}
	var lines int
	var accounted uint64
	for _, l := range logs.lines(t) {
		switch l.Message {
		case "message dropped":
			lines++
			accounted += 1 + l.Suppressed
		case "message drops not logged":
			accounted += l.Suppressed
		}
	}
	if accounted != drops {
		t.Fatalf("lines and suppressed counts account for %d drops, want %d", accounted, drops)
	}
	if bound := 2 + int(elapsed/(10*time.Second)); lines > bound {
		t.Fatalf("%d drop lines in %v, want at most %d", lines, elapsed, bound)
	}
}

// A QoS 0 message too large for the client is discarded as if delivered
// [MQTT-3.1.2-25] and counted once. Before, it was counted twice: by the
// connection and again as shed.
func TestOversizedQoS0IsCountedOnce(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("small-max")
	cp.Properties.MaximumPacketSize = 200
	cp.Properties.Set(packets.PropMaximumPacketSize)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("size/t", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("size-publisher"))
	p.publish(&packets.Publish{Topic: "size/t", Payload: make([]byte, 500)})
	p.publish(&packets.Publish{Topic: "size/t", Payload: []byte("small")})
	if m := s.nextPublish(); string(m.Payload) != "small" {
		t.Fatalf("got %q", m.Payload)
	}
	if st := tb.Stats(); st.Dropped != 1 || st.DroppedQoS0 != 0 {
		t.Fatalf("dropped %d (QoS 0 shed %d), want 1 (0)", st.Dropped, st.DroppedQoS0)
	}
}
