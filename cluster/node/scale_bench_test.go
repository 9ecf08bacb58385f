//go:build unix

package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// The benchmarks in this file measure the unit costs that decision 0058's
// growth model multiplies out (numbers toward 10 M connections on 20+
// nodes). They report what they measure with b.ReportMetric; ns/op is not
// their figure.

// BenchmarkIngestRead: what one node pays to read a stream it has no use
// for, as every node reads every ingest shard in the delivery model of
// issue 14's round 2 (decision 0055): an ordered consumer reading 100,000
// messages of 128 bytes from an R1 stream on the node's own embedded
// server. cpu-µs/msg is the whole process's CPU (server sending, client
// receiving) per message; msgs/s the rate on this machine.
func BenchmarkIngestRead(b *testing.B) {
	const msgs = 100_000
	cfgs := testConfigs(b, 1)
	cfgs[0].Peers, cfgs[0].Sync = nil, "2m"
	ns := startAllQuiet(b, cfgs)
	ctx := context.Background()
	js, err := jetstream.New(ns[0].Conn(), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN0", Subjects: []string{"in.0.>"}})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 128)
	for i := range msgs {
		if _, err := js.PublishAsync(fmt.Sprintf("in.0.fleet.dev%d.t", i%1000), payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(waitFor):
		b.Fatal("fill not acknowledged")
	}
	var cpu, wall time.Duration
	for b.Loop() {
		c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		c0, t0 := processCPU(), time.Now()
		it, err := c.Messages(jetstream.PullMaxMessages(1024))
		if err != nil {
			b.Fatal(err)
		}
		for range msgs {
			if _, err := it.Next(); err != nil {
				b.Fatal(err)
			}
		}
		cpu, wall = cpu+processCPU()-c0, wall+time.Since(t0)
		it.Stop()
	}
	n := float64(b.N * msgs)
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/msg")
	b.ReportMetric(n/wall.Seconds(), "msgs/s")
}

// BenchmarkRemoteInterest: the memory a NATS server holds per subscription
// of a client on it, and per subscription of a client on another server of
// its cluster (route interest), for 100,000 subscriptions with distinct
// subjects (one device's command topic each, subject-encoded), made with
// the raw protocol so that no client library's structures are counted.
// Every server of a cluster keeps every other's interest: this is what a
// node pays for the rest of the cluster's filters (decision 0052's
// interest propagation).
func BenchmarkRemoteInterest(b *testing.B) {
	const subs = 100_000
	for b.Loop() {
		local := heapGrowth(b, 1, subs)
		both := heapGrowth(b, 2, subs)
		b.ReportMetric(float64(local)/subs, "B/local-sub")
		b.ReportMetric(float64(both-local)/subs, "B/remote-sub")
	}
}

// heapGrowth starts servers nats-servers in one cluster, subscribes subs
// distinct subjects on the first, waits until the last knows them, and
// returns how much the live heap grew.
func heapGrowth(b *testing.B, servers, subs int) int64 {
	var srvs []*server.Server
	defer func() {
		for _, s := range srvs {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}()
	var seed string
	for i := range servers {
		opts := &server.Options{ServerName: fmt.Sprintf("s%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "interest", Host: "127.0.0.1", Port: -1, PoolSize: -1}}
		if seed != "" {
			opts.Routes = server.RoutesFromStr(seed)
		}
		s, err := server.NewServer(opts)
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(waitFor) {
			b.Fatal("nats-server not ready")
		}
		seed = "nats://" + s.ClusterAddr().String()
		srvs = append(srvs, s)
	}
	last := srvs[len(srvs)-1]
	for deadline := time.Now().Add(waitFor); servers > 1 && last.NumRoutes() < servers-1; {
		if time.Now().After(deadline) {
			b.Fatal("no route")
		}
		time.Sleep(5 * time.Millisecond)
	}
	base := last.NumSubscriptions()
	before := liveHeap()
	conn, err := net.Dial("tcp", srvs[0].Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil { // INFO
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(conn, 1<<16)
	fmt.Fprint(w, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
	for i := range subs {
		fmt.Fprintf(w, "SUB plume.m.ZGV2aWNlcw.ZGV2LTAw%07d.Y21k %d\r\n", i, i+1)
	}
	fmt.Fprint(w, "PING\r\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	// The server may ping us first (or send INFO again): answer until our PONG.
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("after the SUBs: %v", err)
		}
		if strings.HasPrefix(line, "PONG") {
			break
		}
		if strings.HasPrefix(line, "PING") {
			if _, err := conn.Write([]byte("PONG\r\n")); err != nil {
				b.Fatal(err)
			}
		}
	}
	for deadline := time.Now().Add(waitFor); last.NumSubscriptions() < base+uint32(subs); {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions known to the last server", last.NumSubscriptions()-base, subs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return int64(liveHeap() - before)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// processCPU is the process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
