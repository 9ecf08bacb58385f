package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets from the issue: Plume's throughput against mochi's, and its memory
// per idle connection.
const (
	targetThroughputRatio = 1.3
	targetIdleKiB         = 4.0
	subject               = "plume"
	// withPlugins is Plume with the benchmark plugin chain (one authorize
	// and one transform call per message); it is measured against subject.
	withPlugins       = "plume+plugins"
	targetPluginRatio = 0.7
	// withStandard is Plume with the standard built-in chain (rate-limit,
	// password-file, acl-file), its clients logged in: measured against
	// subject, with no target of its own.
	withStandard = "plume+standard"
	// withMetrics is Plume with the ops server's /metrics on and scraped
	// every second (decision 0029): it should keep this fraction of plume's
	// msgs/s.
	withMetrics        = "plume+metrics"
	targetMetricsRatio = 0.97
	// Plume with its durable store (issue 9): --data-dir in the default
	// sync mode, and store.mode async; each should keep this fraction of
	// in-memory Plume's msgs/s in the durable scenarios.
	plumeSync        = "plume-sync"
	plumeAsync       = "plume-async"
	targetSyncRatio  = 0.5
	targetAsyncRatio = 0.8
)

var (
	scenarioOrder = []string{"pairs", "fanin", "fanout", "fanout-paced",
		"pingpong-q0-1", "pingpong-q0-8", "pingpong-q1-1", "pingpong-q1-8", "pingpong-q2-1", "pingpong-q2-8",
		"pingpong-q0-1-paced", "pingpong-q0-8-paced", "pingpong-q1-1-paced", "pingpong-q1-8-paced", "fleet", "idle", "idle-ping", "trickle", "pairs-durable", "fanin-durable", "recovery-sigterm", "recovery-kill-9"}
	peers           = []string{"mochi", "mosquitto"}
	durableScenario = []string{"pairs-durable", "fanin-durable"}
	// durablePeer is the peer with its store on that a durable Plume is
	// compared with, in the same column as the in-memory peer.
	durablePeer = map[string]string{"mochi": "mochi-pebble", "mosquitto": "mosquitto-persist"}
	// variants are Plume configurations measured against in-memory Plume.
	variants = []string{withPlugins, withStandard, withMetrics, plumeSync, plumeAsync}
)

// peerOf names the broker that broker is compared with in peer's column:
// the durable peer for a durable Plume, peer itself for Plume in memory.
func peerOf(broker, peer string) string {
	if broker == plumeSync || broker == plumeAsync {
		return durablePeer[peer]
	}
	if slices.Contains(transportVariants, broker) {
		return peer + strings.TrimPrefix(broker, subject) // plume-tls: mochi-tls, mosquitto-tls
	}
	return peer
}

// Ratio compares Plume with one peer in one scenario: msgs/s divided by the
// peer's for throughput (higher is better), RSS per connection divided by the
// peer's for idle (lower is better).
type Ratio struct {
	// Broker is the Plume configuration measured; empty for Plume in memory.
	Broker   string  `json:"broker,omitempty"`
	Scenario string  `json:"scenario"`
	Peer     string  `json:"peer"`
	Metric   string  `json:"metric"`
	Ratio    float64 `json:"ratio"`
	// InFlight is the regime the ratio holds in (Result.InFlight of
	// Plume's run): no ratio without the depth that produced it.
	InFlight string `json:"in_flight,omitempty"`
}

// Report is what results/latest.json holds.
type Report struct {
	Generated string   `json:"generated"`
	Settings  string   `json:"settings,omitempty"`
	Host      Host     `json:"host"`
	Results   []Result `json:"results"`
	Ratios    []Ratio  `json:"plume_ratios"`
	// PluginRatios are plume+plugins' msgs/s over plume's, per scenario, and
	// plume+standard's (with Broker set).
	PluginRatios []Ratio `json:"plugin_ratios,omitempty"`
	// DurableRatios are plume-sync's and plume-async's msgs/s over plume's
	// (in memory), per durable scenario.
	DurableRatios []Ratio `json:"durable_ratios,omitempty"`
	// TransportRatios are plume-tls's (-mtls, -ws, -wss) msgs/s over plume's
	// on TCP, and its RSS per idle connection over plume's on TCP.
	TransportRatios []Ratio  `json:"transport_ratios,omitempty"`
	Targets         []string `json:"plume_targets"`
}

// Host records what the numbers were measured on.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"loadgen_go"`
	Note      string `json:"note"`
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	out := fs.String("out", "", "write the combined JSON report here")
	settings := fs.String("settings", "", "how the run was configured, recorded in the JSON")
	_ = fs.Parse(args)

	var all []Result
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		var rs []Result
		if err := json.Unmarshal(b, &rs); err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		all = append(all, rs...)
	}
	all = medianRuns(all)
	rank := func(list []string, s string) int {
		if i := slices.Index(list, s); i >= 0 {
			return i
		}
		return len(list)
	}
	brokerOrder := slices.Concat([]string{subject, withPlugins, withStandard, plumeSync, plumeAsync}, transportVariants,
		[]string{"mochi", "mochi-pebble", "mochi-tls", "mosquitto", "mosquitto-persist", "mosquitto-tls", "mosquitto-mtls"})
	slices.SortStableFunc(all, func(a, b Result) int {
		if d := rank(scenarioOrder, a.Scenario) - rank(scenarioOrder, b.Scenario); d != 0 {
			return d
		}
		return rank(brokerOrder, a.Broker) - rank(brokerOrder, b.Broker)
	})

	find := func(scenario, broker string) *Result {
		for i := range all {
			if all[i].Scenario == scenario && all[i].Broker == broker && all[i].Error == "" {
				return &all[i]
			}
		}
		return nil
	}
	var ratios []Ratio
	for _, sc := range scenarioOrder {
		for _, broker := range slices.Concat([]string{subject, plumeSync, plumeAsync}, transportVariants) {
			p := find(sc, broker)
			if p == nil {
				continue
			}
			name := broker
			if broker == subject {
				name = ""
			}
			for _, peer := range peers {
				q := find(sc, peerOf(broker, peer))
				if q == nil {
					continue
				}
				switch {
				case memoryScenario(sc) && q.RSSPerConnKiB > 0:
					ratios = append(ratios, Ratio{name, sc, q.Broker, "rss_per_conn", p.RSSPerConnKiB / q.RSSPerConnKiB, cmp.Or(p.InFlight, "idle")})
				case !memoryScenario(sc) && q.MsgsPerSec > 0:
					ratios = append(ratios, peerRatios(name, p, q)...)
				}
			}
		}
	}
	// Each variant of Plume against Plume in memory, in the same scenario.
	var pluginRatios, durableRatios []Ratio
	vsMemory := map[[2]string]float64{}
	for _, sc := range scenarioOrder {
		for _, v := range variants {
			p, q := find(sc, v), find(sc, subject)
			if p == nil || q == nil || q.MsgsPerSec == 0 || memoryScenario(sc) {
				continue
			}
			r := Ratio{v, sc, subject, "msgs_per_s", p.MsgsPerSec / q.MsgsPerSec, p.InFlight}
			vsMemory[[2]string{sc, v}] = r.Ratio
			switch v {
			case withPlugins:
				r.Broker = "" // as before: an unnamed plugin ratio is plume+plugins'
				pluginRatios = append(pluginRatios, r)
			case withStandard, withMetrics:
				pluginRatios = append(pluginRatios, r)
			default:
				durableRatios = append(durableRatios, r)
			}
		}
	}
	transportRatios := transportVsTCP(find)
	for _, r := range transportRatios {
		if r.Metric == "msgs_per_s" {
			vsMemory[[2]string{r.Scenario, r.Broker}] = r.Ratio
		}
	}
	printTable(all, ratios, vsMemory)
	printTransportMemory(find)
	printRatios(ratios)
	for _, r := range pluginRatios {
		if r.Broker == withMetrics {
			fmt.Printf("plume+metrics msgs/s / plume's in %s: %.2f (/metrics on the ops server, scraped every second)\n", r.Scenario, r.Ratio)
			continue
		}
		if r.Broker == withStandard {
			fmt.Printf("plume+standard msgs/s / plume's in %s: %.2f (built-ins rate-limit, password-file, acl-file; clients logged in, rate limits far above the load)\n", r.Scenario, r.Ratio)
			continue
		}
		fmt.Printf("plume+plugins msgs/s / plume's in %s: %.2f (an authorize plugin with a cacheable answer and a transform plugin on every message)\n", r.Scenario, r.Ratio)
	}
	printRecovery(all)
	var targets []string // the targets are on throughput and memory; a recovery-only run has none
	if slices.ContainsFunc(all, func(r Result) bool { return !isRecovery(r) }) {
		targets = checkTargets(find)
	}
	for _, t := range targets {
		fmt.Println(t)
	}

	if *out != "" {
		rep := Report{
			Generated: time.Now().UTC().Format(time.RFC3339),
			Settings:  *settings,
			Host: Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
				Note: "load generator and broker share the machine's CPUs"},
			Results: all, Ratios: ratios, PluginRatios: pluginRatios, DurableRatios: durableRatios,
			TransportRatios: transportRatios, Targets: targets,
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	return nil
}

func fmtMicros(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us >= 10000:
		return fmt.Sprintf("%.1f ms", us/1000)
	case us >= 1000:
		return fmt.Sprintf("%.2f ms", us/1000)
	default:
		return fmt.Sprintf("%.0f us", us)
	}
}

// peerRatios compares Plume's result p with a peer's q in the same scenario:
// msgs/s (not in an open-loop scenario, where the rate is the load
// generator's), msgs per broker CPU-second, and p99 latency (Plume's over the
// peer's: lower is better). Each carries Plume's in-flight depth.
func peerRatios(name string, p, q *Result) []Ratio {
	var out []Ratio
	add := func(metric string, a, b float64) {
		if a > 0 && b > 0 {
			out = append(out, Ratio{name, p.Scenario, q.Broker, metric, a / b, p.InFlight})
		}
	}
	if p.RatePerSec == 0 {
		add("msgs_per_s", p.MsgsPerSec, q.MsgsPerSec)
	}
	add("msgs_per_broker_cpu_s", p.MsgsPerCPUSec, q.MsgsPerCPUSec)
	if latencyBound(p.Scenario) {
		add("p99_us", p.P99Micros, q.P99Micros)
	}
	return out
}

// latencyBound reports whether a scenario is of issue 13's latency-bound
// regime: one message in flight per client, or open loop at a fixed rate.
func latencyBound(sc string) bool {
	return strings.HasPrefix(sc, "pingpong-") || sc == "fanout-paced" || sc == "fleet"
}

// checkTargets states, one line per target, whether Plume met it.
func checkTargets(find func(scenario, broker string) *Result) []string {
	var lines []string
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	for _, sc := range []string{"pairs", "fanin", "fanout"} {
		p, m := find(sc, subject), find(sc, "mochi")
		if p == nil || m == nil || m.MsgsPerSec == 0 {
			lines = append(lines, fmt.Sprintf("target %s >= %.1fx mochi msgs/s: not measured", sc, targetThroughputRatio))
			continue
		}
		r := p.MsgsPerSec / m.MsgsPerSec
		line := fmt.Sprintf("target %s >= %.1fx mochi msgs/s: %s (%.2fx)", sc, targetThroughputRatio, verdict(r >= targetThroughputRatio), r)
		if sc == "fanin" {
			line += fmt.Sprintf("; nothing lost at QoS 1: %s (%d lost)", verdict(p.Lost == 0), p.Lost)
		}
		lines = append(lines, line)
	}
	for _, sc := range []string{"pairs", "fanin", "fanout"} {
		if p, q := find(sc, withPlugins), find(sc, subject); p != nil && q != nil && q.MsgsPerSec > 0 {
			r := p.MsgsPerSec / q.MsgsPerSec
			lines = append(lines, fmt.Sprintf("target %s with plugins >= %.0f%% of plume msgs/s: %s (%.0f%%)", sc, 100*targetPluginRatio, verdict(r >= targetPluginRatio), 100*r))
		}
		if p, q := find(sc, withMetrics), find(sc, subject); p != nil && q != nil && q.MsgsPerSec > 0 {
			r := p.MsgsPerSec / q.MsgsPerSec
			lines = append(lines, fmt.Sprintf("target %s with /metrics scraped every second >= %.0f%% of plume msgs/s: %s (%.0f%%)", sc, 100*targetMetricsRatio, verdict(r >= targetMetricsRatio), 100*r))
		}
	}
	for _, sc := range durableScenario {
		q := find(sc, subject)
		for _, t := range []struct {
			broker string
			target float64
		}{{plumeSync, targetSyncRatio}, {plumeAsync, targetAsyncRatio}} {
			p := find(sc, t.broker)
			if p == nil || q == nil || q.MsgsPerSec == 0 {
				if p != nil || q != nil {
					lines = append(lines, fmt.Sprintf("target %s %s >= %.0f%% of plume in memory: not measured", sc, t.broker, 100*t.target))
				}
				continue
			}
			r := p.MsgsPerSec / q.MsgsPerSec
			lines = append(lines, fmt.Sprintf("target %s %s >= %.0f%% of plume in memory: %s (%.0f%%); nothing lost at QoS 1: %s (%d lost)",
				sc, t.broker, 100*t.target, verdict(r >= t.target), 100*r, verdict(p.Lost == 0), p.Lost))
		}
	}
	lines = append(lines, latencyTargets(find)...)
	if p := find("idle", subject); p != nil {
		lines = append(lines, fmt.Sprintf("target idle <= %.0f KiB/conn: %s (%.2f KiB)", targetIdleKiB, verdict(p.RSSPerConnKiB <= targetIdleKiB), p.RSSPerConnKiB))
	} else {
		lines = append(lines, fmt.Sprintf("target idle <= %.0f KiB/conn: not measured", targetIdleKiB))
	}
	return slices.DeleteFunc(lines, func(s string) bool { return strings.TrimSpace(s) == "" })
}

// medianRuns reduces several runs of the same scenario against the same
// broker to the median one (by msgs/s, or by RSS per connection for idle),
// recording every run's figure in AllRuns. Failed runs are dropped when a
// successful one exists.
func medianRuns(all []Result) []Result {
	type key struct{ scenario, broker string }
	groups := map[key][]Result{}
	var order []key
	for _, r := range all {
		k := key{r.Scenario, r.Broker}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Result
	for _, k := range order {
		runs := slices.DeleteFunc(slices.Clone(groups[k]), func(r Result) bool { return r.Error != "" })
		if len(runs) == 0 {
			out = append(out, groups[k][0])
			continue
		}
		// An open-loop run's msgs/s is the load generator's rate: the
		// median is taken by messages per broker CPU-second instead.
		figure := func(r Result) float64 {
			switch {
			case memoryScenario(r.Scenario):
				return r.RSSPerConnKiB
			case r.RatePerSec > 0:
				return r.MsgsPerCPUSec
			}
			return r.MsgsPerSec
		}
		slices.SortFunc(runs, func(a, b Result) int {
			switch fa, fb := figure(a), figure(b); {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		})
		m := runs[(len(runs)-1)/2]
		if len(runs) > 1 {
			m.Runs = len(runs)
			if m.RatePerSec > 0 {
				m.MedianBy = "msgs_per_broker_cpu_s"
			}
			for _, r := range runs {
				m.AllRuns = append(m.AllRuns, figure(r))
			}
		}
		for _, r := range groups[k] {
			if r.Error != "" {
				m.FailedRuns = append(m.FailedRuns, r.Error)
			}
		}
		out = append(out, m)
	}
	return out
}

// printTable prints the throughput and memory scenarios' table (the recovery
// scenario has its own), then the errors of the runs that failed.
func printTable(all []Result, ratios []Ratio, vsMemory map[[2]string]float64) {
	if !slices.ContainsFunc(all, func(r Result) bool { return !isRecovery(r) }) {
		return
	}
	// The peer columns hold the msgs/s ratio, or in an open-loop scenario
	// (fixed rate) the msgs per broker CPU-second ratio, marked "/CPU".
	ratioOf := func(sc, broker, peer string) string {
		if broker == subject {
			broker = ""
		}
		var perCPU string
		for _, r := range ratios {
			if r.Scenario == sc && r.Broker == broker && r.Peer == peer {
				switch r.Metric {
				case "msgs_per_s":
					return fmt.Sprintf("%.2fx", r.Ratio)
				case "msgs_per_broker_cpu_s":
					perCPU = fmt.Sprintf("%.2fx/CPU", r.Ratio)
				}
			}
		}
		return perCPU
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tbroker\tin flight\tmsgs/s\tp50\tp99\tp999\tlost\tbroker CPU\tmsgs/CPU-s\tRSS/idle conn\tvs plume in memory\tplume vs mochi\tplume vs mosquitto\t")
	var errorLines []string
	for _, r := range all {
		if isRecovery(r) {
			continue // its own table, below
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t%s\t\t\t\t\t\t\t\t\t\t\t\n", r.Scenario, r.Broker, "error")
			errorLines = append(errorLines, fmt.Sprintf("%s %s: %s", r.Scenario, r.Broker, r.Error))
			continue
		}
		for _, e := range r.FailedRuns {
			errorLines = append(errorLines, fmt.Sprintf("%s %s (one of %d rounds, not in the median): %s", r.Scenario, r.Broker, len(r.FailedRuns)+max(r.Runs, 1), e))
		}
		var depth, rate, p50, p99, p999, lost, cores, perCPU, rss, vsMem, vsMochi, vsMosq string
		if memoryScenario(r.Scenario) {
			rss = fmt.Sprintf("%.2f KiB", r.RSSPerConnKiB)
			if r.RSSMarginalKiB != 0 {
				// Beside the delta, never instead: the slope between half
				// and all the connections leaves out fixed costs.
				rss += fmt.Sprintf(" (marginal %.2f)", r.RSSMarginalKiB)
			}
			if r.BrokerCores > 0 { // idle-ping: what the keep-alives cost
				depth = inFlight(r)
				cores = fmt.Sprintf("%.3f cores", r.BrokerCores)
			}
		} else {
			rate = fmt.Sprintf("%.0f", r.MsgsPerSec)
			depth = inFlight(r)
			p50, p99, p999 = fmtMicros(r.P50Micros), fmtMicros(r.P99Micros), fmtMicros(r.P999Micros)
			lost = fmt.Sprint(r.Lost)
			if r.BrokerCores > 0 {
				cores = fmt.Sprintf("%.2f cores", r.BrokerCores)
				perCPU = fmt.Sprintf("%.0f", r.MsgsPerCPUSec)
			}
		}
		if r.Broker == subject || r.Broker == plumeSync || r.Broker == plumeAsync || slices.Contains(transportVariants, r.Broker) {
			vsMochi = ratioOf(r.Scenario, r.Broker, peerOf(r.Broker, "mochi"))
			vsMosq = ratioOf(r.Scenario, r.Broker, peerOf(r.Broker, "mosquitto"))
		}
		if v, ok := vsMemory[[2]string{r.Scenario, r.Broker}]; ok {
			vsMem = fmt.Sprintf("%.0f%%", 100*v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Broker, depth, rate, p50, p99, p999, lost, cores, perCPU, rss, vsMem, vsMochi, vsMosq)
	}
	_ = tw.Flush()
	for _, l := range errorLines {
		fmt.Println("error:", l)
	}
	fmt.Println("(throughput ratios: Plume msgs/s / peer, higher is better; idle ratio: Plume KiB/conn / peer, lower is better;")
	fmt.Println(" plume-sync and plume-async are compared with mochi-pebble and mosquitto-persist; in flight: the pacing bound")
	fmt.Println(" per publisher (BENCH_OUTSTANDING) and, at QoS 1, the unacknowledged publishes allowed per publisher;")
	fmt.Println(" plume-tls (-mtls, -ws, -wss) is compared with mochi-tls and mosquitto-tls (-mtls), and in \"vs plume in memory\"")
	fmt.Println(" with plume over TCP; x/CPU: msgs per broker CPU-second / peer's, shown where the rate is fixed (open loop))")
}

// isRecovery reports whether r belongs in the recovery table: a recovery
// result, or an error recorded for a recovery scenario.
func isRecovery(r Result) bool {
	return r.Recovery != nil || strings.HasPrefix(r.Scenario, "recovery")
}

// inFlight describes the depth a throughput figure was measured at.
func inFlight(r Result) string {
	switch {
	case r.InFlight != "":
		return r.InFlight
	case r.Outstanding == 0:
		return "" // results from before the field existed
	case r.Inflight > 0:
		return fmt.Sprintf("%d/%d acks", r.Outstanding, r.Inflight)
	}
	return fmt.Sprint(r.Outstanding)
}

// memoryScenario reports whether a scenario measures RSS per connection
// rather than throughput.
func memoryScenario(sc string) bool { return sc == "idle" || sc == "idle-ping" || sc == "trickle" }
