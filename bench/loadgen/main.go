// Command loadgen drives an MQTT 3.1.1 broker with the comparison benchmark's
// scenarios and prints the results as JSON; `loadgen report` turns the
// results of several brokers into one table. See bench/README.md.
//
//	loadgen run -addr 127.0.0.1:18830 -broker mochi -pid 1234 -scenario pairs
//	loadgen wait -addr 127.0.0.1:18830 -pid 1234
//	loadgen authcheck -addr 127.0.0.1:18830 -username bench -password PW   (auth.go)
//	loadgen fill -addr 127.0.0.1:18830 -sessions 10000 -messages 1000000
//	loadgen recovered -addr 127.0.0.1:18830 -pid 1234 -started UNIX_NS -log broker.log
//	loadgen freeport -from 28830
//	loadgen certs -dir DIR
//	loadgen run -addr tls://127.0.0.1:18883 -ca DIR/ca.pem ...   (see transport.go)
//	loadgen report -out results/latest.json results/run/*.json
//	loadgen run -pub-addrs N1 -sub-addrs N2 -pid P1 -pids P2,P3 ...   (cluster.go, bench/cluster.sh)
//	loadgen clusterreport -out results/cluster.json run/*.json   (report_cluster.go)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Result is one scenario against one broker; the JSON in results/ holds a
// list of them.
type Result struct {
	Broker     string  `json:"broker"`
	Scenario   string  `json:"scenario"`
	Error      string  `json:"error,omitempty"`
	WindowSecs float64 `json:"window_s,omitempty"`
	// Runs and AllRuns are set by the report when a scenario ran several
	// times (BENCH_ROUNDS): the result shown is the median run, AllRuns lists
	// every run's msgs/s (or KiB per idle connection).
	Runs    int       `json:"runs,omitempty"`
	AllRuns []float64 `json:"all_runs,omitempty"`
	// FailedRuns are the errors of the runs the median was taken without:
	// a round that failed must show, not vanish behind one that passed.
	FailedRuns []string `json:"failed_runs,omitempty"`
	// MedianBy names the figure the median run was chosen by, when it is
	// not msgs/s: an open-loop scenario's msgs/s is its fixed rate.
	MedianBy string `json:"median_by,omitempty"`

	// Throughput scenarios. Outstanding is the pacing bound (messages sent
	// but not yet received, per publisher), Inflight the bound on QoS 1
	// publishes awaiting PUBACK per publisher (0 at QoS 0): a figure means
	// little without the depth it was measured at. Persistent: the
	// subscribers had persistent sessions.
	Outstanding uint64 `json:"outstanding,omitempty"`
	// InFlight says in words the depth every figure of this result was
	// measured at: "1000 per publisher", "1 (ping-pong)", "open loop at
	// 1000 msg/s"; the report prints it next to every figure.
	InFlight   string  `json:"in_flight,omitempty"`
	Inflight   int64   `json:"inflight,omitempty"`
	Persistent bool    `json:"persistent_subscribers,omitempty"`
	Delivered  uint64  `json:"delivered_in_window,omitempty"`
	MsgsPerSec float64 `json:"msgs_per_s,omitempty"`
	P50Micros  float64 `json:"p50_us,omitempty"`
	P99Micros  float64 `json:"p99_us,omitempty"`
	P999Micros float64 `json:"p999_us,omitempty"`
	// RoundTripsPerSec: ping-pong only, completed round trips (each one
	// delivery) a second in the window.
	RoundTripsPerSec float64 `json:"round_trips_per_s,omitempty"`
	// Connections publishing (fleet), and SentInWindow, the readings they
	// published in the window (Delivered counts their deliveries).
	Connections  int     `json:"connections,omitempty"`
	SentInWindow uint64  `json:"sent_in_window,omitempty"`
	RatePerSec   float64 `json:"rate_per_s,omitempty"`
	Sent         uint64  `json:"sent,omitempty"`
	Acked        uint64  `json:"acked,omitempty"`
	Received     uint64  `json:"received,omitempty"`
	Lost         uint64  `json:"lost"`
	Duplicates   uint64  `json:"duplicates,omitempty"`
	Stalls       int     `json:"stalls,omitempty"`
	// StalledOn: ping-pong, what the stalled round trips were waiting for.
	StalledOn map[string]int `json:"stalled_on,omitempty"`
	// LoadAvg1 is the machine's one-minute load average at the end of the
	// window (throughput scenarios): two shared cores, other work on them.
	LoadAvg1 float64 `json:"loadavg_1m,omitempty"`
	// CPU used in the measured window, in cores (CPU seconds per second).
	BrokerCores float64 `json:"broker_cores,omitempty"`
	// BrokerCPUSecs is the broker's utime+stime (/proc/PID/stat) over the
	// window: the sample at its end minus the one at its start.
	BrokerCPUSecs float64 `json:"broker_cpu_s,omitempty"`
	LoadgenCores  float64 `json:"loadgen_cores,omitempty"`
	// MsgsPerCPUSec is deliveries per CPU second of the broker: less
	// sensitive than msgs/s to other load on a shared machine.
	MsgsPerCPUSec float64 `json:"msgs_per_broker_cpu_s,omitempty"`
	// Ping-pong: how long the broker's threads were runnable but waited for
	// a CPU in the window (/proc/PID/task/*/schedstat), per delivered
	// message and per time a thread was given a CPU (schedwait.go).
	RunQueueWaitPerMsgMicros   float64 `json:"broker_runq_wait_us_per_msg,omitempty"`
	RunQueueWaitPerSliceMicros float64 `json:"broker_runq_wait_us_per_slice,omitempty"`

	// Idle scenario.
	IdleConns     int     `json:"idle_conns,omitempty"`
	ConnectSecs   float64 `json:"connect_s,omitempty"`
	RSSBeforeKiB  int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB   int64   `json:"rss_after_kib,omitempty"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib,omitempty"`
	// RSSMidKiB is RSS with half the connections open; RSSMarginalKiB the
	// slope between half and all (what one more connection costs, without
	// the fixed costs that RSSPerConnKiB includes). Reported beside, never
	// instead of, RSSPerConnKiB.
	RSSMidKiB      int64   `json:"rss_mid_kib,omitempty"`
	RSSMarginalKiB float64 `json:"rss_marginal_per_conn_kib,omitempty"`
	ClosedByPeer   int64   `json:"closed_by_broker,omitempty"`
	// idle-ping: each connection's PINGREQ period, the PINGREQs sent and
	// the PINGRESPs received (BrokerCores and BrokerCPUSecs are over the
	// pinging window).
	PingEverySecs float64 `json:"ping_every_s,omitempty"`
	Pings         int64   `json:"pings,omitempty"`
	Pongs         int64   `json:"pongs,omitempty"`

	// Recovery scenarios (loadgen fill, then loadgen recovered).
	Recovery *Recovery `json:"recovery,omitempty"`
}

var scenarios = map[string]flowSpec{
	"pairs": {
		name: "pairs", pubs: 8, subs: 8, qos: 0,
		topic:    func(i int) string { return fmt.Sprintf("bench/pair/%d", i) },
		filter:   func(i int) string { return fmt.Sprintf("bench/pair/%d", i) },
		receives: func(i int) []int { return []int{i} },
	},
	"fanin": {
		name: "fanin", pubs: 8, subs: 1, qos: 1,
		topic:    func(i int) string { return fmt.Sprintf("bench/in/%d", i) },
		filter:   func(int) string { return "bench/in/+" },
		receives: func(int) []int { return []int{0} },
	},
	"fanout": {
		name: "fanout", pubs: 1, subs: 32, qos: 0,
		topic:  func(int) string { return "bench/out" },
		filter: func(int) string { return "bench/out" },
		receives: func(int) []int {
			all := make([]int, 32)
			for i := range all {
				all[i] = i
			}
			return all
		},
	},
}

// fanout-paced is fanout at a fixed 1,000 msg/s (open loop): 32,000
// deliveries a second, each publish its own write, as a sensor gateway
// publishes, rather than the bursts the closed-loop fanout packs.
func init() {
	s := scenarios["fanout"]
	s.name, s.rate = "fanout-paced", 1000
	scenarios[s.name] = s
}

// pairs-q1 and fanin-q0 are pairs at QoS 1 and fanin at QoS 0, clean
// sessions: the cluster benchmark (bench/cluster.sh) runs both scenarios at
// both QoS levels.
func init() {
	s := scenarios["pairs"]
	s.name, s.qos = "pairs-q1", 1
	scenarios[s.name] = s
	s = scenarios["fanin"]
	s.name, s.qos = "fanin-q0", 0
	scenarios[s.name] = s
}

// The durable scenarios are pairs and fanin at QoS 1 with persistent
// subscribers: what a broker's store costs when it must keep every message
// it queues. Same topics and connections as their in-memory twins.
func init() {
	for _, base := range []string{"pairs", "fanin"} {
		s := scenarios[base]
		s.name, s.qos, s.persistent = base+"-durable", 1, true
		scenarios[s.name] = s
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen run|fill|recovered|wait|authcheck|report|clusterreport|freeport|certs [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "fill":
		err = cmdFill(os.Args[2:])
	case "recovered":
		err = cmdRecovered(os.Args[2:])
	case "wait":
		err = cmdWait(os.Args[2:])
	case "authcheck":
		err = cmdAuthCheck(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "freeport":
		err = cmdFreePort(os.Args[2:])
	case "clusterreport":
		err = cmdClusterReport(os.Args[2:])
	case "certs":
		err = cmdCerts(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want run, fill, recovered, wait, authcheck, report, clusterreport, freeport or certs)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit (and tries 65536 if
// that is lower), so the idle scenario can hold thousands of sockets.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Max < 65536 {
		want := syscall.Rlimit{Cur: 65536, Max: 65536}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return
		}
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address: host:port, or tcp://, tls://, ws:// or wss:// (transport.go)")
	loadTLS := tlsFlags(fs)
	loadLogin := loginFlags(fs)
	broker := fs.String("broker", "broker", "name to record in the results")
	scenario := fs.String("scenario", "pairs", "pairs, fanin, fanout, fanout-paced, pingpong-q{0,1,2}-{1,8}[-paced], fleet, idle, idle-ping (idle connections each sending PINGREQ every -ping-every) or trickle (idle connections each announcing -announce bytes and sending a byte every 2 s)")
	pid := fs.Int("pid", 0, "broker process id, for its RSS (idle) and CPU time (throughput)")
	window := fs.Duration("duration", 10*time.Second, "measured window of each throughput scenario")
	warmup := fs.Duration("warmup", time.Second, "publishing before the measured window starts")
	drain := fs.Duration("drain", 5*time.Second, "longest wait for in-flight messages after publishing stops")
	outstanding := fs.Uint64("outstanding", 1000, "max messages sent but not yet received, per publisher")
	inflight := fs.Int64("inflight", 64, "max unacknowledged QoS 1 publishes, per publisher")
	payload := fs.Int("payload", 64, "payload size in bytes (>= 20)")
	idleConns := fs.Int("conns", 8000, "connections in the idle scenario")
	settle := fs.Duration("settle", 15*time.Second, "longest wait for the broker's RSS to stabilise")
	announce := fs.Int("announce", 1_000_000, "trickle scenario: the PUBLISH length each connection announces")
	hold := fs.Duration("hold", 0, "idle scenario: keep the connections open this long after measuring (to profile the broker)")
	pingEvery := fs.Duration("ping-every", 15*time.Second, "idle-ping scenario: each connection's PINGREQ period, spread over the connections")
	pingFor := fs.Duration("ping-for", time.Minute, "idle-ping scenario: how long the connections ping before RSS is read")
	persistent := fs.Bool("persistent", false, "subscribers connect with clean session false (the -durable scenarios always do)")
	out := fs.String("out", "", "write the JSON result to this file as well as stdout")
	fleetDevices := fs.Int("fleet-devices", 10000, "fleet scenario: publishing connections, one QoS 1 reading each per -fleet-period")
	fleetSubs := fs.Int("fleet-subs", 10, "fleet scenario: subscribers to fleet/+/reading")
	fleetPeriod := fs.Duration("fleet-period", time.Second, "fleet scenario: time between one device's readings")
	fleetConnectRate := fs.Int("fleet-connect-rate", 2000, "fleet scenario: connections opened per second at most")
	pingRate := fs.Float64("pingpong-rate", defaultPingRate, "pingpong-qQ-N-paced: round trips a second per client")
	pubAddrs := fs.String("pub-addrs", "", "throughput scenarios: comma-separated broker addresses, publisher i dials the i-th modulo their number (a cluster's nodes; -addr when empty)")
	subAddrs := fs.String("sub-addrs", "", "throughput scenarios: the same for subscribers")
	morePids := fs.String("pids", "", "comma-separated further broker processes (a cluster's other nodes): their CPU is added to -pid's")
	_ = fs.Parse(args)
	pids, err := parsePids(*morePids)
	if err != nil {
		return err
	}
	if err := loadTLS(); err != nil {
		return err
	}
	if err := loadLogin(); err != nil {
		return err
	}
	raiseFileLimit()

	res := Result{Broker: *broker, Scenario: *scenario}
	switch *scenario {
	case "idle", "idle-ping", "trickle":
		if *pid == 0 {
			return fmt.Errorf("%s scenario needs -pid", *scenario)
		}
		cfg := idleConfig{addr: *addr, pid: *pid, conns: *idleConns, concurrency: 32, settle: *settle, hold: *hold}
		if *scenario == "idle-ping" {
			if *pingEvery <= 0 {
				return fmt.Errorf("-ping-every %v: must be positive", *pingEvery)
			}
			cfg.pingEvery, cfg.pingFor = *pingEvery, *pingFor
		}
		if *scenario == "trickle" {
			cfg.announce = *announce
			// A first wave, closed and not measured: a fresh heap's pages
			// are not resident until written, so only a broker that has
			// served a while shows what it allocates for announcements.
			warm := cfg
			warm.hold = 0
			if _, err := runIdle(warm); err != nil {
				return fmt.Errorf("trickle warm-up wave: %w", err)
			}
		}
		r, err := runIdle(cfg)
		if err != nil {
			res.Error = err.Error()
		}
		res.IdleConns, res.ConnectSecs = r.conns, r.connectTime.Seconds()
		res.RSSBeforeKiB, res.RSSAfterKiB, res.RSSPerConnKiB = r.rssBeforeKiB, r.rssAfterKiB, r.perConnKiB
		res.RSSMidKiB, res.RSSMarginalKiB = r.rssMidKiB, r.marginalKiB
		res.ClosedByPeer = r.droppedByPeer
		if cfg.pingEvery > 0 {
			res.PingEverySecs, res.Pings, res.Pongs = cfg.pingEvery.Seconds(), r.pings, r.pongs
			res.InFlight = fmt.Sprintf("idle, a PINGREQ every %v per connection", cfg.pingEvery)
			if r.pingWindow > 0 {
				res.WindowSecs, res.BrokerCPUSecs = r.pingWindow.Seconds(), r.brokerCPU.Seconds()
				res.BrokerCores = res.BrokerCPUSecs / res.WindowSecs
			}
			if err == nil && (r.pongs < r.pings || r.pingFails > 0) {
				res.Error = fmt.Sprintf("%d of %d PINGREQs unanswered, %d not sent", r.pings-r.pongs, r.pings, r.pingFails)
			}
		}
	case "fleet":
		if *payload < payloadHeader {
			return fmt.Errorf("-payload %d: must be at least %d bytes", *payload, payloadHeader)
		}
		r, err := runFleet(fleetConfig{
			addr: *addr, pid: *pid, devices: *fleetDevices, subs: *fleetSubs, period: *fleetPeriod,
			concurrency: 32, connectRate: *fleetConnectRate, senders: 16,
			warmup: max(*warmup, 2**fleetPeriod), window: *window, drain: *drain, payload: *payload,
		})
		if err != nil {
			res.Error = err.Error()
		}
		res.RatePerSec = float64(*fleetDevices) / fleetPeriod.Seconds()
		res.InFlight = fmt.Sprintf("open loop: %d conns x %g msg/s, QoS 1", *fleetDevices, 1/fleetPeriod.Seconds())
		res.Connections, res.ConnectSecs = *fleetDevices, r.connectTime.Seconds()
		res.SentInWindow, res.Delivered = r.sentWindow, r.delivered
		res.Sent, res.Acked, res.Received = r.sent, r.acked, r.received
		if want := r.acked * uint64(*fleetSubs); want > r.received {
			res.Lost = want - r.received
		}
		setWindow(&res, r.elapsed, r.delivered, &r.hist, r.brokerCPU, r.loadgenCPU)
	case "pingpong-q0-1", "pingpong-q0-8", "pingpong-q1-1", "pingpong-q1-8", "pingpong-q2-1", "pingpong-q2-8",
		"pingpong-q0-1-paced", "pingpong-q0-8-paced", "pingpong-q1-1-paced", "pingpong-q1-8-paced":
		spec, _ := pingScenario(*scenario)
		if *payload < payloadHeader {
			return fmt.Errorf("-payload %d: must be at least %d bytes", *payload, payloadHeader)
		}
		r, err := runPingPong(spec, flowConfig{addr: *addr, warmup: *warmup, window: *window, payload: *payload, pid: *pid, pingRate: *pingRate})
		if err != nil {
			res.Error = err.Error()
		}
		res.InFlight = "1 (ping-pong)"
		if spec.paced {
			// A fixed rate: compared by CPU and p99, never by msgs/s.
			res.RatePerSec = *pingRate * float64(spec.clients)
			res.InFlight = fmt.Sprintf("1 (ping-pong), paced at %g/s per client", *pingRate)
		}
		res.Sent, res.Received, res.Duplicates, res.Stalls, res.StalledOn = r.sent, r.completed, r.stray, r.stalls, r.stalledOn
		setWindow(&res, r.elapsed, r.roundTrips, &r.hist, r.brokerCPU, r.loadgenCPU)
		res.RoundTripsPerSec = res.MsgsPerSec
		if r.schedOK {
			setRunQueueWait(&res, r.sched0, r.sched1, r.roundTrips)
		}
	default:
		spec, ok := scenarios[*scenario]
		if !ok {
			return fmt.Errorf("unknown scenario %q", *scenario)
		}
		if *payload < payloadHeader {
			return fmt.Errorf("-payload %d: must be at least %d bytes", *payload, payloadHeader)
		}
		r, err := runFlow(spec, flowConfig{
			addr: *addr, warmup: *warmup, window: *window, drain: *drain,
			outstanding: *outstanding, inflight: *inflight, payload: *payload, bufSize: 64 << 10, pid: *pid,
			persistent: *persistent, pubAddrs: splitList(*pubAddrs), subAddrs: splitList(*subAddrs), morePids: pids,
		})
		res.LoadAvg1 = loadAvg1()
		res.Outstanding, res.Persistent = *outstanding, spec.persistent || *persistent
		res.InFlight = fmt.Sprintf("%d per publisher", *outstanding)
		if spec.qos > 0 {
			res.Inflight = *inflight
			res.InFlight += fmt.Sprintf(", %d acks", *inflight)
		}
		if spec.rate > 0 {
			res.RatePerSec = spec.rate
			res.InFlight = fmt.Sprintf("open loop at %g msg/s", spec.rate)
		}
		if err != nil {
			res.Error = err.Error()
		}
		res.Sent, res.Acked, res.Received, res.Lost = r.sent, r.acked, r.received, r.lost
		res.Duplicates, res.Stalls = r.dups, r.stalls
		setWindow(&res, r.elapsed, r.delivered, &r.hist, r.brokerCPU, r.loadgenCPU)
	}

	return writeResult(res, *out)
}

// setWindow records what every throughput scenario measures over its
// window: deliveries, their rate, latency percentiles, and the CPU the broker
// and the load generator spent.
func setWindow(res *Result, elapsed time.Duration, delivered uint64, h *histogram, brokerCPU, loadgenCPU time.Duration) {
	res.WindowSecs, res.Delivered = elapsed.Seconds(), delivered
	res.P50Micros = float64(h.quantile(0.50)) / 1e3
	res.P99Micros = float64(h.quantile(0.99)) / 1e3
	res.P999Micros = float64(h.quantile(0.999)) / 1e3
	res.BrokerCPUSecs = brokerCPU.Seconds()
	if elapsed > 0 {
		res.MsgsPerSec = float64(delivered) / elapsed.Seconds()
		res.BrokerCores = brokerCPU.Seconds() / elapsed.Seconds()
		res.LoadgenCores = loadgenCPU.Seconds() / elapsed.Seconds()
	}
	if brokerCPU > 0 {
		res.MsgsPerCPUSec = float64(delivered) / brokerCPU.Seconds()
	}
}

// writeResult prints res as a one-element JSON list, and writes it to out too
// unless out is empty.
func writeResult(res Result, out string) error {
	b, err := json.Marshal([]Result{res})
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	if out != "" {
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	return nil
}

// cmdWait connects to addr until the broker answers CONNECT with CONNACK, for
// up to -timeout; with -pid it gives up as soon as that process has exited,
// so a broker that refuses its flags or config fails the wait at once.
func cmdWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address: host:port, or tcp://, tls://, ws:// or wss:// (transport.go)")
	loadTLS := tlsFlags(fs)
	loadLogin := loginFlags(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	pid := fs.Int("pid", 0, "the broker's process id: stop waiting when it exits")
	_ = fs.Parse(args)
	if err := loadTLS(); err != nil {
		return err
	}
	if err := loadLogin(); err != nil {
		return err
	}
	_, err := waitConnAck(*addr, *pid, *timeout, 50*time.Millisecond)
	return err
}

// waitConnAck dials addr every interval until a CONNECT is answered with a
// successful CONNACK, and returns when that happened. It fails after
// timeout, or once process pid (if not 0) has exited.
func waitConnAck(addr string, pid int, timeout, interval time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := dial(addr, "bench-wait", keepAlive, 256)
		if err == nil {
			at := time.Now()
			c.close()
			return at, nil
		}
		if pid != 0 && !running(pid) {
			return time.Time{}, fmt.Errorf("broker process %d exited before accepting connections on %s: %w", pid, addr, err)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		time.Sleep(interval)
	}
}

// running reports whether process pid exists and is not a zombie: the broker
// is the shell's child, so once it exits it stays a zombie, which kill -0
// still finds, until the shell reaps it.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// hold spaces: read it after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// cmdFreePort prints the first loopback port at or above -from that nothing
// listens on, so a broker left running by someone else is never measured in
// place of the one compare.sh starts.
func cmdFreePort(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ExitOnError)
	from := fs.Int("from", 28830, "first port to try")
	_ = fs.Parse(args)
	for port := *from; port < *from+200 && port < 65536; port++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = l.Close()
		fmt.Println(port)
		return nil
	}
	return fmt.Errorf("no free loopback port in %d..%d", *from, *from+199)
}
