package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestClientsPagesSortedByClientIDWithATotal(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for i := range 5 {
		connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("dev-%d", 4-i))) // connected out of order
	}
	p1 := tb.Clients(broker.ClientQuery{Limit: 2})
	if p1.Total != 5 || len(p1.Clients) != 2 || p1.Clients[0].ClientID != "dev-0" || p1.Clients[1].ClientID != "dev-1" || p1.Next != "dev-1" {
		t.Fatalf("first page: %+v", p1)
	}
	p2 := tb.Clients(broker.ClientQuery{Limit: 2, After: p1.Next})
	if len(p2.Clients) != 2 || p2.Clients[0].ClientID != "dev-2" || p2.Next != "dev-3" {
		t.Fatalf("second page: %+v", p2)
	}
	p3 := tb.Clients(broker.ClientQuery{Limit: 2, After: p2.Next})
	if len(p3.Clients) != 1 || p3.Clients[0].ClientID != "dev-4" || p3.Next != "" || p3.Total != 5 {
		t.Fatalf("last page: %+v", p3)
	}
	c := p1.Clients[0]
	if !c.Connected || c.ProtocolVersion != 5 || c.Listener != "test" || c.Remote == "" || c.ConnectedAt.IsZero() ||
		time.Since(c.ConnectedAt) > time.Minute {
		t.Fatalf("summary of a connected client: %+v", c)
	}
}

func TestClientsSearchMatchesIDUsernameAndRemote(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("meter-1")
	cp.HasUsername, cp.Username = true, "Alice"
	connectRaw(t, tb.addr, cp)
	connectRaw(t, tb.addr, v5Connect("pump-7"))
	for search, want := range map[string]string{"METER": "meter-1", "alice": "meter-1", "pump": "pump-7"} {
		p := tb.Clients(broker.ClientQuery{Search: search})
		if p.Total != 1 || len(p.Clients) != 1 || p.Clients[0].ClientID != want {
			t.Errorf("search %q: %+v, want %s alone", search, p, want)
		}
	}
	if p := tb.Clients(broker.ClientQuery{Search: "127.0.0.1"}); p.Total != 2 {
		t.Errorf("search by remote: total %d, want 2", p.Total)
	}
	if p := tb.Clients(broker.ClientQuery{Search: "nobody"}); p.Total != 0 || len(p.Clients) != 0 {
		t.Errorf("search for nobody: %+v", p)
	}
}

func TestClientsLimitIsBounded(t *testing.T) {
	if broker.ListLimit(0) != broker.DefaultListLimit || broker.ListLimit(5000) != broker.MaxListLimit || broker.ListLimit(7) != 7 {
		t.Fatalf("ListLimit: %d %d %d", broker.ListLimit(0), broker.ListLimit(5000), broker.ListLimit(7))
	}
}

func TestClientInfoShowsSubscriptionsAndQueue(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("sub")
	cp.CleanStart = false
	cp.KeepAlive = 30
	cp.Properties.SessionExpiry = 600
	cp.Properties.Set(packets.PropSessionExpiry)
	sub, _ := connectRaw(t, tb.addr, cp)
	s := &packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{
		{Filter: "a/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
		{Filter: "$share/g1/b/+", QoS: 2},
	}}
	s.Properties.SubscriptionIDs = []uint32{42}
	sub.send(s)
	sub.expectSuback(1)

	// Two QoS 1 messages the subscriber never acknowledges: in flight.
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	for i := range 2 {
		pub.publish(&packets.Publish{Topic: "a/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("12345")})
		pub.expectAck(packets.TypePuback, uint16(i+1))
		sub.nextPublish()
	}
	d, err := tb.ClientInfo("sub")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Connected || d.KeepAlive != 30*time.Second || d.SessionExpiry != 600 || d.Inflight != 2 || d.QueuedBytes == 0 {
		t.Fatalf("detail: %+v", d)
	}
	if len(d.Subscriptions) != 2 {
		t.Fatalf("subscriptions: %+v", d.Subscriptions)
	}
	shared, plain := d.Subscriptions[0], d.Subscriptions[1] // sorted: "$share/..." < "a/#"
	if shared.Filter != "$share/g1/b/+" || shared.SharedGroup != "g1" || shared.QoS != 2 || shared.Identifier != 42 {
		t.Errorf("shared subscription: %+v", shared)
	}
	if plain.Filter != "a/#" || plain.SharedGroup != "" || plain.QoS != 1 || !plain.NoLocal || !plain.RetainAsPublished || plain.RetainHandling != 2 || plain.Identifier != 42 {
		t.Errorf("subscription: %+v", plain)
	}

	// Offline, the session stays with its queue and says since when.
	sub.disconnect(packets.NormalDisconnection)
	eventually(t, "the session to go offline", func() bool {
		d, err := tb.ClientInfo("sub")
		return err == nil && !d.Connected
	})
	d, _ = tb.ClientInfo("sub")
	if d.OfflineSince.IsZero() || d.Remote != "" || d.Inflight+d.Queued != 2 {
		t.Errorf("offline detail: %+v", d)
	}
	if _, err := tb.ClientInfo("nobody"); !errors.Is(err, broker.ErrNoClient) {
		t.Errorf("ClientInfo(nobody): %v, want ErrNoClient", err)
	}
}

func TestDisconnectSendsAdministrativeActionTo5AndClosesOthers(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	v5, _ := connectRaw(t, tb.addr, v5Connect("five"))
	v4, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "four"})
	if err := tb.Disconnect("five"); err != nil {
		t.Fatal(err)
	}
	v5.expectDisconnect(packets.AdministrativeAction)
	if err := tb.Disconnect("four"); err != nil {
		t.Fatal(err)
	}
	v4.expectClosed()
	eventually(t, "both to be offline", func() bool { return tb.Stats().ClientsConnected == 0 })
	if err := tb.Disconnect("five"); !errors.Is(err, broker.ErrNoClient) {
		t.Errorf("Disconnect of an ended connection: %v, want ErrNoClient", err)
	}
}

func TestRetainedByPrefixWithLimit(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))
	for i, topic := range []string{"home/kitchen/t", "home/hall/t", "home/hall", "homer/x", "office/t"} {
		pub.publish(&packets.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Retain: true, Payload: []byte("abc")})
		pub.expectAck(packets.TypePuback, uint16(i+1))
	}
	topics := func(ms []broker.RetainedInfo) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Topic)
		}
		return out
	}
	for prefix, want := range map[string]string{
		"home/":   "[home/hall home/hall/t home/kitchen/t]",
		"home":    "[home/hall home/hall/t home/kitchen/t homer/x]",
		"home/ha": "[home/hall home/hall/t]",
		"":        "[home/hall home/hall/t home/kitchen/t homer/x office/t]",
		"x/#":     "[]",
	} {
		ms, truncated := tb.Retained(prefix, 0)
		if got := fmt.Sprint(topics(ms)); got != want || truncated {
			t.Errorf("Retained(%q) = %s truncated %v, want %s", prefix, got, truncated, want)
		}
	}
	ms, truncated := tb.Retained("home", 2)
	if len(ms) != 2 || !truncated {
		t.Errorf("Retained(home, 2): %v truncated %v, want 2 and truncated", topics(ms), truncated)
	}
	if ms[0].QoS != 1 || ms[0].PayloadBytes != 3 {
		t.Errorf("retained info: %+v", ms[0])
	}
}

// Clients reads a connection's fields while it connects and goes: run with
// -race, this fails if any of them is written outside b.mu after attach.
func TestClientsWhileClientsComeAndGo(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			for _, c := range tb.Clients(broker.ClientQuery{Search: "127.0.0.1"}).Clients {
				if c.Connected && c.ConnectedAt.IsZero() {
					t.Errorf("%s connected without a connected_at", c.ClientID)
				}
			}
			n++
		}
	}()
	for i := range 50 {
		c, _ := connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("churn-%d", i)))
		c.disconnect(packets.NormalDisconnection)
	}
	close(stop)
	if n := <-done; n == 0 {
		t.Fatal("Clients never ran")
	}
}
