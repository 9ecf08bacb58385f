//go:build unix

package broker

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The latency-bound regime (docs/decisions/0036-low-rate-path.md): one
// message in flight per client, or a paced publisher, where what a message
// costs the broker is not amortised over a batch.
//
// The clients run in a child process (the test binary again, running
// TestLowRateClients), so that the process's CPU time, context switches,
// allocations and syscalls are the broker's alone. The clients are raw
// sockets doing the least a client can; their latencies are measured in the
// child and include its scheduling, on a machine whose cores the two
// processes share.
//
// Metrics per message ("msg" = one delivered PUBLISH; in ping-pong that is
// one round trip):
//
//	cpu-ns/msg      broker process CPU (user+system, getrusage)
//	cswitch/msg     context switches of the broker process (getrusage), a
//	                measure of how often its threads sleep and are woken
//	gor/msg         goroutines created (flusher hand-offs, unparks)
//	syscalls/msg    with PLUME_BENCH_PERF=1 and perf on PATH: every system
//	                call the broker process made (perf stat raw_syscalls)
//	p50-µs, p99-µs  latency seen by the clients
//
// Run: go test ./core/broker -run '^$' -bench 'PingPong|Pipelined' -benchtime 20000x
// and -bench 'FanOutPaced|FanInPaced|FleetPaced' -benchtime 4000x (paced at
// 1,000, 4,000 and 1,000 msg/s: 4 s, 1 s and 4 s). The clients run out of process, so -cpuprofile
// and -memprofile show the broker alone.

// BenchmarkPingPong: each client subscribes to its own topic, publishes one
// 64-byte message to it and waits for it to come back (and, at QoS 1, for
// the PUBACK; at QoS 2 for PUBREC, PUBCOMP and the PUBREL of its
// delivery, answering each) before sending the next.
func BenchmarkPingPong(b *testing.B) {
	for _, c := range []struct{ qos, clients int }{{0, 1}, {0, 8}, {1, 1}, {1, 8}, {2, 1}, {2, 8}} {
		b.Run(fmt.Sprintf("qos=%d/clients=%d", c.qos, c.clients), func(b *testing.B) {
			runLowRate(b, fmt.Sprintf("pingpong qos=%d clients=%d", c.qos, c.clients), b.N)
		})
	}
}

// BenchmarkFanOutPaced: one publisher sends 64-byte QoS 0 messages at
// 1,000 msg/s to 32 subscribers; b.N counts published messages, the
// per-message metrics count deliveries (32 per publish).
func BenchmarkFanOutPaced(b *testing.B) {
	runLowRate(b, "fanout qos=0 clients=32 rate=1000", b.N*32)
}

// BenchmarkFanInPaced is a small fleet: 200 publishers at 20 msg/s each
// (4,000 msg/s in all) to their own topics, 4 subscribers to all of them
// through "fi/+"; b.N counts published messages, the per-message metrics
// count deliveries (4 per publish). It is where many publishers' messages to
// one subscriber may share a write.
func BenchmarkFanInPaced(b *testing.B) {
	runLowRate(b, "fanin qos=0 clients=200 subs=4 rate=20", b.N*4)
}

// BenchmarkFleetPaced is the fleet of issue 13 scaled to the benchmark
// process (decision 0038): 500 devices each publishing one 64-byte QoS 1
// reading every half second to its own topic (1,000 msg/s, staggered, open
// loop), 10 subscribers to all of them through "fi/+" at QoS 1 that
// acknowledge every delivery. b.N counts published messages; the
// per-message metrics count deliveries (10 per publish).
func BenchmarkFleetPaced(b *testing.B) {
	runLowRate(b, "fanin qos=1 clients=500 subs=10 rate=2", b.N*10)
}

// BenchmarkPipelined is the regime the low-rate changes must not slow down:
// one QoS 0 publisher 1,000 messages ahead of its one subscriber, writing
// 64 at a time.
func BenchmarkPipelined(b *testing.B) {
	runLowRate(b, "pipelined qos=0 clients=1", b.N)
}

// runLowRate starts a broker, a client process for spec, and measures the
// broker while the clients deliver msgs messages.
func runLowRate(b *testing.B, spec string, msgs int) {
	if testing.Short() {
		b.Skip("starts a client process")
	}
	_, addr := benchServe(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestLowRateClients$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s addr=%s n=%d", lowRateEnv, spec, addr, b.N))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer in.Close()
	out := bufio.NewReader(outPipe)
	if _, err := expectLine(out, "ready"); err != nil {
		b.Fatal(err)
	}
	perf := startPerf(b)
	before := sample()
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		b.Fatal(err)
	}
	done, err := expectLine(out, "done")
	b.StopTimer()
	after := sample()
	syscalls := perf.stop()
	if err != nil {
		b.Fatal(err)
	}
	f := float64(msgs)
	b.ReportMetric(float64(after.cpu-before.cpu)/f, "cpu-ns/msg")
	b.ReportMetric(float64(after.cswitch-before.cswitch)/f, "cswitch/msg")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/f, "gor/msg")
	if syscalls >= 0 {
		b.ReportMetric(float64(syscalls)/f, "syscalls/msg")
	}
	var p50, p99 int64
	if _, err := fmt.Sscanf(done, "done %d %d", &p50, &p99); err != nil {
		b.Fatalf("client report %q: %v", done, err)
	}
	if p50 != 0 {
		b.ReportMetric(float64(p50)/1e3, "p50-µs")
		b.ReportMetric(float64(p99)/1e3, "p99-µs")
		b.ReportMetric(0, "ns/op") // wall time per op mixes pacing and both processes
	}
}

// expectLine reads lines from the client process until one starting with
// word; the process prints nothing else on stdout but the test framework's
// own lines.
func expectLine(r *bufio.Reader, word string) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("client process: waiting for %q: %w", word, err)
		}
		if line = strings.TrimSpace(line); strings.HasPrefix(line, word) {
			return line, nil
		}
		if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "panic") {
			return "", fmt.Errorf("client process: %s", line)
		}
	}
}

type usage struct{ cpu, cswitch, goroutines int64 }

func sample() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	var g int64
	if s[0].Value.Kind() == metrics.KindUint64 {
		g = int64(s[0].Value.Uint64())
	}
	return usage{
		cpu:        ru.Utime.Nano() + ru.Stime.Nano(),
		cswitch:    ru.Nvcsw + ru.Nivcsw,
		goroutines: g,
	}
}

// perfCount counts the broker process's system calls with perf, when
// PLUME_BENCH_PERF=1 asks for it.
type perfCount struct {
	cmd *exec.Cmd
	out *strings.Builder
}

func startPerf(b *testing.B) *perfCount {
	if os.Getenv("PLUME_BENCH_PERF") != "1" {
		return &perfCount{}
	}
	out := new(strings.Builder)
	cmd := exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(os.Getpid()))
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		b.Logf("perf: %v", err)
		return &perfCount{}
	}
	time.Sleep(200 * time.Millisecond) // perf attaches to every thread before it counts
	return &perfCount{cmd: cmd, out: out}
}

// stop ends perf and returns the count, -1 without one. perf's own
// start-up and the 200 ms it waits cost the broker nothing: it is idle then.
func (p *perfCount) stop() int64 {
	if p.cmd == nil {
		return -1
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	for _, line := range strings.Split(p.out.String(), "\n") {
		if f := strings.Split(line, ","); len(f) > 2 && strings.Contains(line, "raw_syscalls") {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}
