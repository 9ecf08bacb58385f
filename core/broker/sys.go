package broker

import (
	"strconv"
	"time"

	"github.com/plumemq/plume/core/session"
)

// sysLoop publishes the broker's state as retained messages under
// $SYS/broker/ every interval, until Shutdown.
func (b *Broker) sysLoop(interval time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	b.publishSys()
	for {
		select {
		case <-b.sysStop:
			return
		case <-t.C:
			b.publishSys()
		}
	}
}

func (b *Broker) publishSys() {
	s := b.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int) string { return strconv.Itoa(v) }
	for _, kv := range [...][2]string{
		{"version", b.opts.Version},
		{"uptime", i(int(time.Since(b.started).Seconds())) + " seconds"},
		{"clients/connected", i(s.ClientsConnected)},
		{"clients/total", i(s.Sessions)},
		{"clients/refused", u(s.Refused)},
		{"messages/received", u(s.MessagesIn)},
		{"messages/sent", u(s.MessagesOut)},
		{"messages/dropped", u(s.Dropped)},
		{"bytes/received", u(s.BytesIn)},
		{"bytes/sent", u(s.BytesOut)},
		{"subscriptions/count", i(s.Subscriptions)},
		{"retained messages/count", i(s.Retained)},
		{"auth/denied", u(s.AuthDenied + s.AuthzDenied)},
		{"messages/dropped/queue_full", u(s.DroppedQueueFull)},
		{"messages/dropped/queue_bytes", u(s.DroppedQueueBytes)},
		{"messages/dropped/memory_budget", u(s.DroppedMemoryBudget)},
		{"messages/dropped/qos0", u(s.DroppedQoS0)},
		{"messages/queued/bytes", strconv.FormatInt(s.QueuedBytes, 10)},
		{"clients/slow_consumers", u(s.SlowConsumers)},
		{"shared/handed over", u(s.SharedHandedOver)},
		{"shared/dropped", u(s.SharedDropped)},
	} {
		b.publish(&session.Message{Topic: "$SYS/broker/" + kv[0], Payload: []byte(kv[1]), Retain: true}, nil)
	}
}
