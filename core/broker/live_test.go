package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// A lowered max_packet_size is announced to the next connection and held
// against it; a connection already open keeps what its CONNACK announced.
func TestSetLimitsPacketSizeForNewConnectionsOnly(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxPacketSize: 4096}})
	old, ack := connectRaw(t, tb.addr, v5Connect("old"))
	if ack.Properties.MaximumPacketSize != 4096 {
		t.Fatalf("first CONNACK announced %d, want 4096", ack.Properties.MaximumPacketSize)
	}
	if err := tb.SetLimits(broker.Limits{MaxPacketSize: 512}); err != nil {
		t.Fatal(err)
	}
	if got := tb.MaxPacketSize(); got != 512 {
		t.Fatalf("MaxPacketSize() = %d after SetLimits, want 512", got)
	}
	c, ack := connectRaw(t, tb.addr, v5Connect("new"))
	if ack.Properties.MaximumPacketSize != 512 {
		t.Fatalf("CONNACK after SetLimits announced %d, want 512", ack.Properties.MaximumPacketSize)
	}
	big := make([]byte, 1024)
	old.publish(&packets.Publish{Topic: "t/old", QoS: 1, PacketID: 1, Payload: big})
	old.expectAck(packets.TypePuback, 1) // announced 4096: still taken
	c.publish(&packets.Publish{Topic: "t/new", QoS: 1, PacketID: 1, Payload: big})
	c.expectDisconnect(packets.PacketTooLarge)
}

// Topic limits apply at once, to connections already open too.
func TestSetLimitsTopicLengthAppliesToOpenConnections(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("c"))
	long := strings.Repeat("x", 40)
	c.publish(&packets.Publish{Topic: long, QoS: 1, PacketID: 1})
	c.expectAck(packets.TypePuback, 1)
	if err := tb.SetLimits(broker.Limits{MaxTopicLength: 20}); err != nil {
		t.Fatal(err)
	}
	if got := tb.Limits().MaxTopicLength; got != 20 {
		t.Fatalf("Limits().MaxTopicLength = %d, want 20", got)
	}
	if got := tb.Limits().MaxPacketSize; got != 1<<20 {
		t.Fatalf("a limit left zero is %d, want its default %d", got, 1<<20)
	}
	c.publish(&packets.Publish{Topic: long, QoS: 1, PacketID: 2})
	c.expectDisconnect(packets.TopicNameInvalid)
}

func TestSetLimitsRefusesAnInvalidSetAndKeepsTheOld(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxTopicLength: 30}})
	err := tb.SetLimits(broker.Limits{MaxTopicLength: 10, WriteTimeout: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "write_timeout") {
		t.Fatalf("SetLimits with a negative write_timeout: %v, want an error naming it", err)
	}
	if got := tb.Limits().MaxTopicLength; got != 30 {
		t.Fatalf("a refused set changed max_topic_length to %d", got)
	}
}

// Admission rules apply to the next CONNECT; a client already in stays.
func TestSetAdmissionAppliesToNewConnections(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	in, _ := connectRaw(t, tb.addr, v5Connect("in"))
	tb.SetAdmission(false, map[string]broker.ListenerPolicy{"test": {AllowAnonymous: false}})
	c := dialRaw(t, tb.addr)
	if ack := c.connect(v5Connect("late")); ack.Reason != packets.NotAuthorized {
		t.Fatalf("anonymous CONNECT after SetAdmission(false): %v, want 0x87", ack.Reason)
	}
	pingIsNext(t, in)
	tb.SetAdmission(false, map[string]broker.ListenerPolicy{"test": {AllowAnonymous: true}})
	if _, ack := connectRaw(t, tb.addr, v5Connect("later")); ack.Reason != packets.Success {
		t.Fatalf("anonymous CONNECT with the listener open again: %v", ack.Reason)
	}
}

func TestSetSessionOwnerMismatch(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: &passwords{}, AllowAnonymous: true})
	cp := asUser(packets.V5, "shared-id", "alice", "apw")
	cp.Properties.SessionExpiry = 300
	cp.Properties.Set(packets.PropSessionExpiry)
	a, _ := connectRaw(t, tb.addr, cp)
	a.disconnect(packets.Success)
	a.expectClosed() // her session is offline now
	bob := func() *packets.Connack {
		bp := asUser(packets.V5, "shared-id", "bob", "bpw")
		bp.CleanStart = false
		return dialRaw(t, tb.addr).connect(bp)
	}
	if ack := bob(); ack.Reason != packets.NotAuthorized {
		t.Fatalf("bob on alice's session under refuse: %v, want 0x87", ack.Reason)
	}
	if err := tb.SetSessionOwnerMismatch(broker.OwnerMismatchFresh); err != nil {
		t.Fatal(err)
	}
	if ack := bob(); ack.Reason != packets.Success || ack.SessionPresent {
		t.Fatalf("bob on alice's session under fresh: %v present=%v, want a new session", ack.Reason, ack.SessionPresent)
	}
	if err := tb.SetSessionOwnerMismatch(broker.OwnerMismatch(9)); err == nil {
		t.Fatal("an unknown mode was taken")
	}
}

// $SYS off at start, then on: the topics are published at once.
func TestSetSysIntervalTurnsSysOn(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true}) // $SYS off
	c, _ := connectRaw(t, tb.addr, v5Connect("sys"))
	c.subscribe(1, sub("$SYS/broker/version", 0))
	c.expectNothing(100 * time.Millisecond)
	tb.SetSysInterval(time.Hour) // published once now, then hourly
	if m := c.nextPublish(); m.Topic != "$SYS/broker/version" {
		t.Fatalf("got %q", m.Topic)
	}
	tb.SetSysInterval(-1)
	tb.SetSysInterval(20 * time.Millisecond)
	for range 2 { // at once, then at least one tick
		if m := c.nextPublish(); m.Topic != "$SYS/broker/version" {
			t.Fatalf("got %q", m.Topic)
		}
	}
}
