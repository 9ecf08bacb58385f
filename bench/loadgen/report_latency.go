package main

import (
	"fmt"
	"os"
	"text/tabwriter"
)

// Issue 13's goals for the latency-bound regime, against Mosquitto.
const (
	latencyPeer           = "mosquitto"
	targetRoundTripsRatio = 1.3 // round trips/s, ping-pong
	// floorPeer is bench/peers/reflector: the least an MQTT peer can do
	// to answer ping-pong, the floor the round-trip goal is judged against.
	floorPeer = "reflector"
)

// printRatios prints every ratio of Plume in memory to a peer, one line per
// scenario and peer, each with the in-flight depth it was measured at.
func printRatios(ratios []Ratio) {
	type key struct{ scenario, peer string }
	byKey := map[key]map[string]Ratio{}
	var order []key
	for _, r := range ratios {
		if r.Broker != "" {
			continue // Plume variants: in the main table
		}
		k := key{r.Scenario, r.Peer}
		if byKey[k] == nil {
			byKey[k] = map[string]Ratio{}
			order = append(order, k)
		}
		byKey[k][r.Metric] = r
	}
	if len(order) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("Plume / peer, with the regime each ratio holds in (msgs/s and msgs/CPU-s: higher is better; p99 and KiB/conn: lower is better):")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tin flight\tpeer\tmsgs/s\tmsgs/CPU-s\tp99\tKiB/idle conn\t")
	cell := func(m map[string]Ratio, metric string) string {
		if r, ok := m[metric]; ok {
			return fmt.Sprintf("%.2fx", r.Ratio)
		}
		return "-"
	}
	for _, k := range order {
		m := byKey[k]
		var depth string
		for _, r := range m {
			if r.InFlight != "" {
				depth = r.InFlight
			}
		}
		if _, ok := m["rss_per_conn"]; ok {
			depth = "idle"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.scenario, depth, k.peer,
			cell(m, "msgs_per_s"), cell(m, "msgs_per_broker_cpu_s"), cell(m, "p99_us"), cell(m, "rss_per_conn"))
	}
	_ = tw.Flush()
}

// latencyTargets states issue 13's goals in each latency-bound scenario
// measured: messages per broker CPU-second at least Mosquitto's, p99 at
// most Mosquitto's, ping-pong round trips/s at least 1.3x Mosquitto's, and
// in the fleet broker CPU at most Mosquitto's.
func latencyTargets(find func(scenario, broker string) *Result) []string {
	var lines []string
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	for _, sc := range scenarioOrder {
		if !latencyBound(sc) {
			continue
		}
		p, q := find(sc, subject), find(sc, latencyPeer)
		if p == nil || q == nil {
			continue
		}
		regime := fmt.Sprintf("%s [%s]", sc, p.InFlight)
		if p.MsgsPerCPUSec > 0 && q.MsgsPerCPUSec > 0 {
			r := p.MsgsPerCPUSec / q.MsgsPerCPUSec
			lines = append(lines, fmt.Sprintf("target %s msgs/CPU-s >= mosquitto's: %s (%.2fx)", regime, verdict(r >= 1), r))
		}
		if p.P99Micros > 0 && q.P99Micros > 0 {
			lines = append(lines, fmt.Sprintf("target %s p99 <= mosquitto's: %s (%s vs %s)", regime,
				verdict(p.P99Micros <= q.P99Micros), fmtMicros(p.P99Micros), fmtMicros(q.P99Micros)))
		}
		if p.RoundTripsPerSec > 0 && q.RoundTripsPerSec > 0 && p.RatePerSec == 0 { // paced: the rate is ours
			r := p.RoundTripsPerSec / q.RoundTripsPerSec
			lines = append(lines, fmt.Sprintf("target %s round trips/s >= %.1fx mosquitto's: %s (%.2fx)", regime,
				targetRoundTripsRatio, verdict(r >= targetRoundTripsRatio), r))
		}
		if f := find(sc, floorPeer); f != nil && f.RoundTripsPerSec > 0 && q.RoundTripsPerSec > 0 && p.RatePerSec == 0 {
			// What the machine allows at all (decision 0040): if the
			// reflector cannot reach the goal, no broker can here.
			lines = append(lines, fmt.Sprintf("floor %s: reflector %.0f round trips/s = %.2fx mosquitto's, plume %.2fx the reflector's", regime,
				f.RoundTripsPerSec, f.RoundTripsPerSec/q.RoundTripsPerSec, p.RoundTripsPerSec/f.RoundTripsPerSec))
		}
		if sc == "fleet" && p.BrokerCores > 0 && q.BrokerCores > 0 {
			lines = append(lines, fmt.Sprintf("target %s broker CPU <= mosquitto's: %s (%.2f vs %.2f cores)", regime,
				verdict(p.BrokerCores <= q.BrokerCores), p.BrokerCores, q.BrokerCores))
		}
	}
	return lines
}
