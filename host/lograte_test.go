package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// countLines reads JSON log lines: how many have message msg, and how many
// occurrences of msg the lines and the limiter's reports for cause account for.
func countLines(t *testing.T, logs *logBuffer, msg, cause string) (lines int, accounted uint64) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Message    string `json:"message"`
			Cause      string `json:"cause"`
			Suppressed uint64 `json:"suppressed"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		switch {
		case l.Message == msg:
			lines++
			accounted += 1 + l.Suppressed
		case l.Message == "plugin log lines suppressed" && l.Cause == cause:
			accounted += l.Suppressed
		}
	}
	return lines, accounted
}

// A plugin that logs on every call writes at most pluginLinesBurst lines a
// second; the rest are counted, and the counts add up. Before, every call
// wrote its line.
func TestPluginLogLinesAreRateLimitedAndCounted(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, logs := startHost(t, one(engine, "probe", testPlugin(t, "probe")))
		p := h.Plugin("probe")
		const calls = 5000
		start := time.Now()
		for range calls {
			if _, err := p.Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "now"}); err != nil {
				t.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		if err := h.Close(context.Background()); err != nil { // reports what is held back
			t.Fatal(err)
		}
		lines, accounted := countLines(t, logs, "now asked", "info")
		if accounted != calls {
			t.Fatalf("lines and suppressed counts account for %d calls, want %d", accounted, calls)
		}
		if bound := pluginLinesBurst * (int(elapsed/pluginLinesEvery) + 2); lines > bound {
			t.Fatalf("%d lines in %v, want at most %d", lines, elapsed, bound)
		}
	})
}

// Traps are logged once per interval per plugin and point, with the count of
// those not logged. Before, each trap wrote its line.
func TestTrapLinesAreRateLimitedAndCounted(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, logs := startHost(t, one(engine, "hostile", testPlugin(t, "hostile")))
		const traps = 20
		start := time.Now()
		for i := range traps {
			if _, err := authorizeDirect(h, "hostile", "panic"); !errors.Is(err, ErrTrap) {
				t.Fatalf("panic %d: err = %v, want ErrTrap", i, err)
			}
		}
		elapsed := time.Since(start)
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		lines, accounted := countLines(t, logs, "plugin instance discarded; the next call gets a fresh one", hooks.PointAuthorize.String())
		if accounted != traps {
			t.Fatalf("lines and suppressed counts account for %d traps, want %d", accounted, traps)
		}
		if bound := int(elapsed/trapLinesEvery) + 2; lines > bound {
			t.Fatalf("%d trap lines in %v, want at most %d", lines, elapsed, bound)
		}
	})
}
