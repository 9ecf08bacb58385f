package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// printRecovery prints the recovery scenario's table, if any recovery
// results are among all, and each broker's own "recovered session store"
// log line under it.
func printRecovery(all []Result) {
	var recs []Result
	for _, r := range all {
		if isRecovery(r) {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "recovery\tbroker\tsessions\tqueued\tfill\tstop\tstart to CONNACK\tRSS after\tdata dir\tsession 0 after restart\t")
	var logs []string
	for _, r := range recs {
		rec := r.Recovery
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\terror\t\t\t\t\t\t\n", strings.TrimPrefix(r.Scenario, "recovery-"), r.Broker)
			logs = append(logs, fmt.Sprintf("error: %s %s: %s", r.Scenario, r.Broker, r.Error))
			continue
		}
		stop := "kill -9"
		if rec.Stop == "sigterm" {
			stop = fmt.Sprintf("SIGTERM, exit in %.1f s", rec.StopSecs)
		}
		fill := fmt.Sprintf("%.1f s (%.0f msgs/s)", rec.FillSecs, float64(rec.Messages)/max(rec.FillSecs, 1e-9))
		present := "absent"
		if rec.SessionPresent {
			present = "present"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%.3f s\t%s\t%s\t%s, %d of %d messages\t\n",
			rec.Stop, r.Broker, rec.Sessions, rec.Messages, fill, stop, rec.StartToConnAckSecs,
			fmtKiB(rec.RSSKiB), fmtBytes(rec.DataDirBytes), present, rec.Verified, rec.VerifyOf)
		if len(rec.LogLine) > 0 {
			logs = append(logs, fmt.Sprintf("recovered session store, as logged by %s (%s): %s", r.Broker, rec.Stop, logFields(rec.LogLine)))
		}
	}
	_ = tw.Flush()
	fmt.Println("(fill: subscribing the sessions not counted; start to CONNACK: from the restarted broker's exec to its first CONNACK, polled every 2 ms)")
	for _, l := range logs {
		fmt.Println(l)
	}
}

// logFields prints a log line's fields as k=v, sorted, without the ones every
// line has.
func logFields(m map[string]any) string {
	var kv []string
	for k, v := range m {
		switch k {
		case "level", "time", "message":
			continue
		}
		kv = append(kv, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(kv)
	return strings.Join(kv, " ")
}

func fmtKiB(k int64) string {
	if k >= 1<<20 {
		return fmt.Sprintf("%.2f GiB", float64(k)/(1<<20))
	}
	return fmt.Sprintf("%.0f MiB", float64(k)/(1<<10))
}

func fmtBytes(b int64) string { return fmtKiB(b >> 10) }
