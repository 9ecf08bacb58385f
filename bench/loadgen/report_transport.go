package main

import (
	"fmt"
	"strings"
)

// transportVariants are Plume over another transport than TCP (compare.sh's
// transport rows): each is compared with the peers over the same transport
// and with Plume over TCP in the same scenario.
var transportVariants = []string{"plume-tls", "plume-mtls", "plume-ws", "plume-wss"}

// transportVsTCP divides each transport variant's figure by Plume's over TCP
// in the same scenario: msgs/s (below 1: what the transport costs), and RSS
// per idle connection (above 1: what it costs in memory).
func transportVsTCP(find func(scenario, broker string) *Result) []Ratio {
	var out []Ratio
	for _, sc := range scenarioOrder {
		q := find(sc, subject)
		if q == nil {
			continue
		}
		for _, v := range transportVariants {
			p := find(sc, v)
			switch {
			case p == nil:
			case memoryScenario(sc) && q.RSSPerConnKiB > 0:
				out = append(out, Ratio{v, sc, subject, "rss_per_conn", p.RSSPerConnKiB / q.RSSPerConnKiB, "idle"})
			case !memoryScenario(sc) && q.MsgsPerSec > 0:
				out = append(out, Ratio{v, sc, subject, "msgs_per_s", p.MsgsPerSec / q.MsgsPerSec, p.InFlight})
			}
		}
	}
	return out
}

// printTransportMemory prints, per broker, its RSS per idle connection over
// each transport measured: the issue asks for the cost of each.
func printTransportMemory(find func(scenario, broker string) *Result) {
	for _, base := range []string{subject, "mochi", "mosquitto"} {
		var parts []string
		for _, t := range []string{"", "-tls", "-mtls", "-ws", "-wss"} {
			if r := find("idle", base+t); r != nil {
				name := "tcp"
				if t != "" {
					name = t[1:]
				}
				parts = append(parts, fmt.Sprintf("%s %.2f", name, r.RSSPerConnKiB))
			}
		}
		if len(parts) > 1 {
			fmt.Printf("%s RSS per idle connection by transport, KiB: %s\n", base, strings.Join(parts, ", "))
		}
	}
}
