package broker_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
)

func zzSnap() map[string]uint64 {
	var ss []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/sched/gomaxprocs:threads" {
			ss = append(ss, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(ss)
	m := map[string]uint64{}
	for _, s := range ss {
		if s.Value.Kind() == metrics.KindUint64 {
			m[s.Name] = s.Value.Uint64()
		}
	}
	ents, _ := os.ReadDir("/proc/self/task")
	m["threads"] = uint64(len(ents))
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "RssAnon:") {
			var v uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "RssAnon:")), "%d", &v)
			m["RssAnon"] = v << 10
		}
	}
	return m
}

func BenchmarkZZMemClasses(b *testing.B) {
	tb := benchBroker(b, broker.Options{AllowAnonymous: true, ParkIdleAfter: 50 * time.Millisecond, SysInterval: -1})
	runtime.GC()
	s0 := zzSnap()
	n := 8000
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for i := range n {
		fd, err := rawConnect(tb.addr, fmt.Sprintf("idle-%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
	}
	waitFor(b, func() bool { return tb.ParkedCount() == n })
	time.Sleep(3 * time.Second)
	runtime.GC()
	runtime.GC()
	s1 := zzSnap()
	for k, v := range s1 {
		if d := int64(v) - int64(s0[k]); d != 0 {
			b.Logf("%-50s %10d -> %10d  %+8.1f B/conn", k, s0[k], v, float64(d)/float64(n))
		}
	}
}
