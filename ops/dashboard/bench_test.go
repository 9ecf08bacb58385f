package dashboard

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// BenchmarkSample is the sampler's cost per period with eight plugins: one
// Stats read, the rates, the event's encoding; it reports the event's size
// and the full overview's (600 samples).
func BenchmarkSample(b *testing.B) {
	var plugins []PluginSample
	for i := range 8 {
		plugins = append(plugins, PluginSample{Name: fmt.Sprintf("plugin-%d", i), Calls: 1000, Mean: time.Microsecond})
	}
	st := broker.Stats{MessagesIn: 1}
	d := New(Config{Stats: func() broker.Stats { return st }, Plugins: func() []PluginSample { return plugins }})
	t0 := time.Now()
	for i := range 600 {
		st.MessagesIn += 1000
		d.sample(t0.Add(time.Duration(i) * time.Second))
	}
	hist, tot := d.hist.samples()
	o, err := json.Marshal(d.overview(t0, hist[len(hist)-1], tot, hist))
	if err != nil {
		b.Fatal(err)
	}
	ev, err := encodeEvent(d.overview(t0, hist[len(hist)-1], tot, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st.MessagesIn += 1000
		d.sample(t0.Add(time.Duration(600+i) * time.Second))
	}
	b.ReportMetric(float64(len(ev)), "event-bytes")
	b.ReportMetric(float64(len(o)), "overview-bytes")
}
