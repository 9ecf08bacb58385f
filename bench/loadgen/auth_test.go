package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startMochiWithLogin runs mochi in-process with its auth ledger: user
// bench, password pw, who may read and write bench/pair/# and nothing else
// (mochi's ledger allows what no rule matches: "#" denies the rest).
func startMochiWithLogin(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ledger := &auth.Ledger{
		Auth: auth.AuthRules{{Username: "bench", Password: "pw", Allow: true}},
		ACL:  auth.ACLRules{{Username: "bench", Filters: auth.Filters{"bench/pair/#": auth.ReadWrite, "#": auth.Deny}}},
	}
	if err := server.AddHook(new(auth.Hook), &auth.Options{Ledger: ledger}); err != nil {
		t.Fatal(err)
	}
	if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return addr
}

// setLogin sets the process-wide credentials for one test.
func setLogin(t *testing.T, user, pass string) {
	t.Helper()
	saved := login
	login.username, login.password = user, pass
	t.Cleanup(func() { login = saved })
}

func TestPairsRunsAsTheGivenUser(t *testing.T) {
	addr := startMochiWithLogin(t)
	cfg := flowConfig{addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond,
		drain: 5 * time.Second, outstanding: 200, payload: 64, bufSize: 16 << 10}

	setLogin(t, "bench", "wrong")
	if _, err := runFlow(scenarios["pairs"], cfg); !refused(err) {
		t.Fatalf("pairs with a wrong password: err = %v, want a CONNACK refusal", err)
	}
	setLogin(t, "bench", "pw")
	res, err := runFlow(scenarios["pairs"], cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.delivered == 0 || res.lost != 0 {
		t.Fatalf("delivered %d, lost %d", res.delivered, res.lost)
	}
}

func TestAuthCheckPassesOnlyWhereLoginAndACLAreEnforced(t *testing.T) {
	setLogin(t, "bench", "pw")
	if err := authCheck(startMochiWithLogin(t), "bench/pair/0", "bench/not-in-the-acl"); err != nil {
		t.Fatalf("broker with a ledger: %v", err)
	}
	// mochi with the allow-all hook lets the wrong password in: the check
	// must say so rather than let such a broker be measured as authenticating.
	if err := authCheck(startMochi(t), "bench/pair/0", "bench/not-in-the-acl"); err == nil {
		t.Fatal("allow-all broker passed the check")
	}
	// A ledger broker, but a filter it allows named as the denied one.
	if err := authCheck(startMochiWithLogin(t), "bench/pair/0", "bench/pair/1"); err == nil {
		t.Fatal("check passed although the 'denied' filter was granted")
	}
}

func TestReportRatesTheStandardChainAgainstPlainPlume(t *testing.T) {
	dir := t.TempDir()
	for i, r := range []Result{
		{Broker: subject, Scenario: "pairs", MsgsPerSec: 1000},
		{Broker: withPlugins, Scenario: "pairs", MsgsPerSec: 800},
		{Broker: withStandard, Scenario: "pairs", MsgsPerSec: 600},
	} {
		b, _ := json.Marshal([]Result{r})
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "r*.json"))
	out := filepath.Join(dir, "report.json")
	if err := cmdReport(append([]string{"-out", out}, files...)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rep.PluginRatios {
		got[r.Broker] = r.Ratio
	}
	if got[""] != 0.8 || got[withStandard] != 0.6 || len(got) != 2 {
		t.Fatalf("plugin_ratios %+v, want plume+plugins (unnamed) 0.8 and plume+standard 0.6", rep.PluginRatios)
	}
	for _, r := range rep.DurableRatios {
		if r.Broker == withStandard {
			t.Fatalf("plume+standard among durable_ratios: %+v", rep.DurableRatios)
		}
	}
}

func TestAFailedRoundIsReportedBesideTheMedian(t *testing.T) {
	got := medianRuns([]Result{
		{Broker: subject, Scenario: "pairs", MsgsPerSec: 1000},
		{Broker: subject, Scenario: "pairs", Error: "loadgen failed or timed out"},
	})
	if len(got) != 1 || got[0].MsgsPerSec != 1000 {
		t.Fatalf("median %+v", got)
	}
	if len(got[0].FailedRuns) != 1 || got[0].FailedRuns[0] != "loadgen failed or timed out" {
		t.Fatalf("failed runs %q, want the failed round's error", got[0].FailedRuns)
	}
}
