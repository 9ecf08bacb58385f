package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// clusterRow is one scenario of one round of bench/cluster.sh: single-node
// Plume and the 3-node cluster measured back to back, and the cluster's
// figures as ratios of the single node's.
type clusterRow struct {
	Scenario string  `json:"scenario"`
	Round    int     `json:"round"`
	Single   *Result `json:"single"`
	Cluster  *Result `json:"cluster"`
	// Throughput: cluster msgs/s ÷ single msgs/s (1 = as fast).
	Throughput float64 `json:"throughput_ratio,omitempty"`
	// P99: cluster p99 ÷ single p99 (1 = as fast; 3 = three times as slow).
	P99 float64 `json:"p99_ratio,omitempty"`
	// PerCPU: deliveries per CPU second of all three nodes ÷ the single
	// node's: what the cluster costs per message, less sensitive to the
	// machine's other load than msgs/s.
	PerCPU float64 `json:"per_cpu_ratio,omitempty"`
}

type clusterReport struct {
	Settings string       `json:"settings"`
	Rows     []clusterRow `json:"rows"`
	// Medians per scenario over the rounds with both runs measured.
	Medians map[string]clusterMedian `json:"medians"`
}

type clusterMedian struct {
	Rounds     int     `json:"rounds"`
	Throughput float64 `json:"throughput_ratio"`
	P99        float64 `json:"p99_ratio"`
	PerCPU     float64 `json:"per_cpu_ratio"`
}

var clusterFile = regexp.MustCompile(`^(single|cluster)-(.+)-r(\d+)\.json$`)

// cmdClusterReport merges cluster.sh's result files (NAME-SCENARIO-rN.json)
// into a table of ratios, and writes it as JSON to -out.
func cmdClusterReport(args []string) error {
	fs := flag.NewFlagSet("clusterreport", flag.ExitOnError)
	out := fs.String("out", "", "write the JSON report here")
	settings := fs.String("settings", "", "the run's settings, recorded with the report")
	_ = fs.Parse(args)
	rows := map[string]*clusterRow{}
	for _, path := range fs.Args() {
		m := clusterFile.FindStringSubmatch(filepath.Base(path))
		if m == nil {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		var rs []Result
		if err := json.Unmarshal(b, &rs); err != nil || len(rs) != 1 {
			return fmt.Errorf("%s: not one result (%v)", path, err)
		}
		round, _ := strconv.Atoi(m[3])
		key := fmt.Sprintf("%s/%03d", m[2], round)
		row := rows[key]
		if row == nil {
			row = &clusterRow{Scenario: m[2], Round: round}
			rows[key] = row
		}
		if m[1] == "single" {
			row.Single = &rs[0]
		} else {
			row.Cluster = &rs[0]
		}
	}
	rep := clusterReport{Settings: *settings, Medians: map[string]clusterMedian{}}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	per := map[string][][3]float64{}
	var order []string
	for _, k := range keys {
		r := rows[k]
		if measured(r.Single) && measured(r.Cluster) {
			r.Throughput = r.Cluster.MsgsPerSec / r.Single.MsgsPerSec
			if r.Single.P99Micros > 0 {
				r.P99 = r.Cluster.P99Micros / r.Single.P99Micros
			}
			if r.Single.MsgsPerCPUSec > 0 {
				r.PerCPU = r.Cluster.MsgsPerCPUSec / r.Single.MsgsPerCPUSec
			}
			if per[r.Scenario] == nil {
				order = append(order, r.Scenario)
			}
			per[r.Scenario] = append(per[r.Scenario], [3]float64{r.Throughput, r.P99, r.PerCPU})
		}
		rep.Rows = append(rep.Rows, *r)
	}
	for _, s := range order {
		v := per[s]
		rep.Medians[s] = clusterMedian{Rounds: len(v), Throughput: medianOf(v, 0), P99: medianOf(v, 1), PerCPU: medianOf(v, 2)}
	}
	printClusterReport(&rep, order)
	if *out != "" {
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

func measured(r *Result) bool { return r != nil && r.Error == "" && r.MsgsPerSec > 0 }

func medianOf(v [][3]float64, i int) float64 {
	xs := make([]float64, len(v))
	for j := range v {
		xs[j] = v[j][i]
	}
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func printClusterReport(rep *clusterReport, order []string) {
	fmt.Println("settings:", rep.Settings)
	fmt.Printf("%-9s %5s  %-8s %10s %9s %7s %11s %6s %5s  %s\n",
		"scenario", "round", "broker", "msgs/s", "p99 µs", "cores", "msgs/cpu-s", "lost", "load", "error")
	for _, r := range rep.Rows {
		for _, x := range []*Result{r.Single, r.Cluster} {
			if x == nil {
				continue
			}
			fmt.Printf("%-9s %5d  %-8s %10.0f %9.0f %7.2f %11.0f %6d %5.2f  %s\n", r.Scenario, r.Round,
				strings.TrimPrefix(x.Broker, "plume-"), x.MsgsPerSec, x.P99Micros, x.BrokerCores, x.MsgsPerCPUSec,
				x.Lost, x.LoadAvg1, x.Error)
		}
		if r.Throughput > 0 {
			fmt.Printf("%-9s %5d  %-8s %9.2fx %8.2fx %19.2fx\n", r.Scenario, r.Round, "ratio", r.Throughput, r.P99, r.PerCPU)
		}
	}
	fmt.Println()
	fmt.Println("cluster ÷ single-node, medians over rounds (throughput: higher is better; p99: lower is better)")
	for _, s := range order {
		m := rep.Medians[s]
		fmt.Printf("%-9s rounds=%d  throughput %.2fx  p99 %.2fx  msgs per CPU-second %.2fx\n",
			s, m.Rounds, m.Throughput, m.P99, m.PerCPU)
	}
}
