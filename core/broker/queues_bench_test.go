package broker

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/packets"
)

// BenchmarkNonReadingSubscriberMemory is issue 8's scenario: a QoS 1
// subscriber that never reads and a publisher of 1 MB messages. Each op
// offers 300 MB; the metrics are what the process holds afterwards: Go heap
// in use and RSS growth (MiB), and the bytes the session holds. "bounded"
// runs the defaults (max_queued_bytes 64 MiB); "unbounded" turns the byte
// bounds off, as before them (only max_queued, which 300 messages never
// reach).
func BenchmarkNonReadingSubscriberMemory(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits Limits
	}{
		{"bounded", Limits{}},
		{"unbounded", Limits{MaxQueuedBytes: -1, MaxQueuedBytesTotal: -1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				heap, rss, held := nonReadingSubscriber(b, bc.limits, 300)
				b.ReportMetric(heap, "heap-MiB")
				b.ReportMetric(rss, "rss-growth-MiB")
				b.ReportMetric(held, "session-MiB")
			}
		})
	}
}

func nonReadingSubscriber(b *testing.B, limits Limits, messages int) (heap, rss, held float64) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	before := rssMiB(b)
	br, addr, stop := benchServeWith(b, limits)
	defer stop()

	sc, sr := benchConn(b, addr, "never-reads")
	defer sc.Close()
	subscribe := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "big", QoS: 1}}}
	if _, err := sc.Write(subscribe.Append(nil, packets.V5)); err != nil {
		b.Fatal(err)
	}
	if p, err := packets.ReadPacket(sr, packets.V5, 0); err != nil || p.Type() != packets.TypeSuback {
		b.Fatalf("SUBACK: %v %v", p, err)
	}
	pc, pr := benchConn(b, addr, "publisher")
	defer pc.Close()
	payload := make([]byte, 1_000_000)
	done := make(chan error, 1)
	go func() { done <- drainUntilPingresp(pr) }()
	for i := range messages {
		p := packets.Publish{Topic: "big", QoS: 1, PacketID: uint16(i + 1), Payload: payload}
		if _, err := pc.Write(p.Append(nil, packets.V5)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pc.Write((&packets.Pingreq{}).Append(nil, packets.V5)); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e, _ := br.sessions.load("never-reads")
	return float64(ms.HeapInuse) / (1 << 20), rssMiB(b) - before, float64(e.Stats().Bytes) / (1 << 20)
}

func drainUntilPingresp(r *bufio.Reader) error {
	for {
		p, err := packets.ReadPacket(r, packets.V5, 0)
		if err != nil {
			return err
		}
		if p.Type() == packets.TypePingresp {
			return nil
		}
	}
}

// rssMiB reads the process's resident set size from /proc (Linux), or skips.
func rssMiB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	b.Skip("no VmRSS")
	return 0
}
