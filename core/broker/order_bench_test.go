package broker

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

// BenchmarkPublishRetained measures publish (store and route) of retained
// QoS 1 messages from parallel publishers, on distinct topics and all on one
// topic, each topic with one QoS 0 subscriber whose connection takes and
// discards the message: the cost of ordering store and route per topic
// (docs/decisions/0012-delivery-under-churn.md).
func BenchmarkPublishRetained(b *testing.B) {
	for _, tc := range []struct {
		name   string
		topics int
	}{{"topics=distinct", 1024}, {"topics=one", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			br, err := New(Options{Log: zerolog.Nop(), AllowAnonymous: true, SysInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			names := make([]string, tc.topics)
			for i := range names {
				names[i] = "bench/retained/" + strconv.Itoa(i)
				id := "sub-" + strconv.Itoa(i)
				e := new(entry)
				e.Init(id, &session.Limits{})
				e.Attach(discard{}, 1)
				br.sessions.store(id, e)
				s := routerSubscription(id, session.Subscription{})
				s.Filter = names[i]
				br.router.Subscribe(s)
			}
			var next atomic.Uint64
			payload := []byte("retained payload")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					m := &session.Message{Topic: names[i%uint64(len(names))], Payload: payload, QoS: 1, Retain: true}
					br.publish(m, nil)
				}
			})
		})
	}
}

// discard is a session.Sink that takes every delivery and writes nothing.
type discard struct{}

func (discard) SendPublish(session.Delivery, session.Batch) bool { return true }
func (discard) SendPubrel(uint16, session.Batch)                 {}
