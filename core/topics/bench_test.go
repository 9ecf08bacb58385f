package topics

import (
	"fmt"
	"testing"
	"time"
)

const benchSubs = 100_000

var metrics = []string{"temp", "humidity", "pressure", "battery"}

// benchFilters returns n filters shaped like a fleet of n devices, one per filter:
// 70% exact, 20% with '+', 10% with '#'. The '+' filters on a device level fan a
// topic out to many subscribers, as dashboards do.
func benchFilters(n int) []string {
	filters := make([]string, n)
	for d := range filters {
		site, metric := d%100, metrics[d%len(metrics)]
		switch d % 10 {
		case 0:
			filters[d] = fmt.Sprintf("site/+/dev/%d/%s", d, metric)
		case 1:
			filters[d] = fmt.Sprintf("site/%d/dev/+/%s", site, metric)
		case 2:
			filters[d] = fmt.Sprintf("site/%d/dev/%d/#", site, d)
		default:
			filters[d] = fmt.Sprintf("site/%d/dev/%d/%s", site, d, metric)
		}
	}
	return filters
}

// benchTopics returns n topics published by devices of the fleet, spread over it.
func benchTopics(n int) []string {
	topics := make([]string, n)
	for i := range topics {
		d := i * 7919 % benchSubs
		topics[i] = fmt.Sprintf("site/%d/dev/%d/%s", d%100, d, metrics[d%len(metrics)])
	}
	return topics
}

func benchRouter(b *testing.B) *Router {
	b.Helper()
	r := NewRouter()
	for i, f := range benchFilters(benchSubs) {
		r.Subscribe(Subscription{Client: fmt.Sprint("client-", i%5000), Filter: f, QoS: 1})
	}
	return r
}

func BenchmarkMatch(b *testing.B) {
	r := benchRouter(b)
	topics := benchTopics(1024)
	var m Matches
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; b.Loop(); i++ {
		m.Reset()
		r.Match(topics[i%len(topics)], &m)
		found += len(m.Subs)
	}
	b.ReportMetric(float64(found)/float64(b.N), "subs/op")
}

// BenchmarkMatchParallel measures read-lock contention: run with -cpu 1,2.
func BenchmarkMatchParallel(b *testing.B) {
	r := benchRouter(b)
	topics := benchTopics(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var m Matches
		i := 0
		for pb.Next() {
			m.Reset()
			r.Match(topics[i%len(topics)], &m)
			i++
		}
	})
}

// BenchmarkMatchWhileSubscribing runs Match on every goroutine while one goroutine
// subscribes and unsubscribes, the broker's mixed load.
func BenchmarkMatchWhileSubscribing(b *testing.B) {
	r := benchRouter(b)
	topics := benchTopics(1024)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 50,000 subscription changes a second: a busy broker's churn, not a flood
		// that would only measure writer starvation.
		tick := time.NewTicker(20 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r.Subscribe(Subscription{Client: "churn", Filter: "site/1/dev/+/temp"})
			r.Unsubscribe("churn", "site/1/dev/+/temp")
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var m Matches
		i := 0
		for pb.Next() {
			m.Reset()
			r.Match(topics[i%len(topics)], &m)
			i++
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

func BenchmarkSubscribe(b *testing.B) {
	r := benchRouter(b)
	filters := benchFilters(benchSubs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A new client each round of the filters, so most calls add a subscription.
		r.Subscribe(Subscription{Client: "bench", Filter: filters[i%len(filters)], Identifier: uint32(i)})
	}
}

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	r := benchRouter(b)
	filters := benchFilters(1024)
	for i := range filters {
		filters[i] = "new/" + filters[i] // a branch of its own, created and pruned each time
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := filters[i%len(filters)]
		r.Subscribe(Subscription{Client: "bench", Filter: f})
		r.Unsubscribe("bench", f)
	}
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for d := range benchSubs { // one retained status per device
		r.Set(fmt.Sprintf("site/%d/dev/%d/%s", d%100, d, metrics[d%len(metrics)]), d)
	}
	for _, bc := range []struct{ name, filter string }{
		{"exact", "site/7/dev/7/battery"},       // 1 topic
		{"plus-site", "site/+/dev/7/battery"},   // 1 topic, 100 sites walked
		{"plus-device", "site/7/dev/+/battery"}, // 1,000 topics
		{"hash", "site/7/#"},                    // 1,000 topics
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			count := func(string, int) bool { n++; return true }
			b.ReportAllocs()
			for b.Loop() {
				r.Match(bc.filter, count)
			}
			b.ReportMetric(float64(n)/float64(b.N), "topics/op")
		})
	}
}
