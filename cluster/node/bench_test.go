package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// BenchmarkJetStreamPublish is one synchronous JetStream publish (the
// publish a PUBACK will wait on) for each sync setting, on one node (R1)
// and on three in-process nodes (R3): what "sync: always" costs, for
// decision 0053. The figures are the machine's disk and load as much as
// JetStream's: compare the rows of one run, not runs.
func BenchmarkJetStreamPublish(b *testing.B) {
	benchPublish(b, func(b *testing.B, js jetstream.JetStream, payload []byte) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			if _, err := js.Publish(ctx, fmt.Sprintf("b.%d", i%64), payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkJetStreamPublishPipelined keeps 256 publishes in flight, as
// many publishers' PUBACKs waiting at once would: whether concurrent
// writes share an fsync under "sync: always".
func BenchmarkJetStreamPublishPipelined(b *testing.B) {
	benchPublish(b, func(b *testing.B, js jetstream.JetStream, payload []byte) {
		for i := 0; b.Loop(); i++ {
			if _, err := js.PublishAsync(fmt.Sprintf("b.%d", i%64), payload, jetstream.WithStallWait(waitFor)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(waitFor):
			b.Fatalf("%d publishes still unacknowledged after %s", js.PublishAsyncPending(), waitFor)
		}
	}, jetstream.WithPublishAsyncMaxPending(256))
}

func benchPublish(b *testing.B, run func(*testing.B, jetstream.JetStream, []byte), opts ...jetstream.JetStreamOpt) {
	for _, nodes := range []int{1, 3} {
		for _, sync := range []string{SyncAlways, "1s", "2m"} {
			b.Run(fmt.Sprintf("R%d/sync=%s", nodes, sync), func(b *testing.B) {
				cfgs := testConfigs(b, nodes)
				for i := range cfgs {
					cfgs[i].Sync = sync
					if nodes == 1 {
						cfgs[i].Peers = nil
					}
				}
				ns := startAllQuiet(b, cfgs)
				ctx := context.Background()
				js, err := jetstream.New(ns[0].Conn(), opts...)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, Replicas: nodes}); err != nil {
					b.Fatal(err)
				}
				payload := make([]byte, 256)
				b.ReportAllocs()
				b.ResetTimer()
				run(b, js, payload)
			})
		}
	}
}

// startAllQuiet is startAll without the servers' logs.
func startAllQuiet(tb testing.TB, cfgs []Config) []*Node {
	tb.Helper()
	return startWith(tb, cfgs, func(Config) zerolog.Logger { return zerolog.Nop() })
}
