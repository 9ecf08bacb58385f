package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host"
)

// The tagged plugin (host/testdata/plugins/tagged) appends "|" and its tag
// to every payload in transform, and denies every authorize with the tag as
// reason string. The chain puts probe first, which allows the publishes, so
// tagged's authorize is reached only when a test asks it directly.

// taggedVersions returns n builds of the tagged plugin that differ only in
// their tag, "ver-0000" to "ver-NNNN": one Go build whose default tag
// (the 8 bytes "untagged", found exactly once in the module's data) is
// rewritten in place. A module per version without n links of a Go program.
func taggedVersions(t *testing.T, n int) [][]byte {
	t.Helper()
	bin, err := os.ReadFile(testPlugin(t, "tagged"))
	if err != nil {
		t.Fatal(err)
	}
	const tag = "untagged"
	if c := bytes.Count(bin, []byte(tag)); c != 1 {
		t.Fatalf("the tagged module holds %q %d times, want once", tag, c)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Replace(bin, []byte(tag), []byte(fmt.Sprintf("ver-%04d", i)), 1)
	}
	return out
}

// reloadEnv serves probe then tagged, the latter from a file in a fresh
// directory holding first; each reload attempt is reported on reloads.
type reloadEnv struct {
	*env
	path    string
	reloads chan error
}

func startReload(t *testing.T, first []byte) *reloadEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tagged.wasm")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	reloads := make(chan error, 64)
	cfg := host.Config{
		Plugins: []host.PluginConfig{
			plugin("probe", testPlugin(t, "probe"), ""),
			plugin("tagged", path, ""),
		},
		ReloadDebounce: 20 * time.Millisecond,
		OnReload: func(name string, err error) {
			if name == "tagged" {
				reloads <- err
			}
		},
	}
	return &reloadEnv{env: start(t, cfg, broker.Options{AllowAnonymous: true}), path: path, reloads: reloads}
}

// tag asks the tagged plugin which version serves it now.
func (r *reloadEnv) tag(t *testing.T) string {
	t.Helper()
	res, err := r.host.Plugin("tagged").Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{ID: "asker"}, Topic: "x"})
	if err != nil {
		t.Fatalf("ask tagged for its tag: %v", err)
	}
	return res.ReasonString
}

// awaitTag waits for reloads until the plugin serves want; a failed reload
// fails the test.
//
// A file copied over in place can be caught half-written when the copy
// stalls for longer than the debounce (a busy machine): that attempt fails,
// the old module keeps serving, and the rest of the write brings another
// reload. So a failed attempt fails the test only if the version never
// comes into force.
func (r *reloadEnv) awaitTag(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(2 * time.Minute) // a compile under -race on a busy machine
	var failed []error
	for r.tag(t) != want {
		select {
		case err := <-r.reloads:
			if err != nil {
				failed = append(failed, err)
			}
		case <-timeout:
			t.Fatalf("%s not in force after 2 minutes; still %s; failed reloads: %v", want, r.tag(t), failed)
		}
	}
	if len(failed) > 0 {
		t.Logf("%s in force after %d failed attempt(s): %v", want, len(failed), failed)
	}
}

// sent is one publish of the load: when it went out and when its PUBACK came.
type sent struct{ at, acked time.Time }

// A publisher at a steady 500 messages/s QoS 1 goes through tagged while its
// module file is replaced 20 times, alternately by write-then-rename and by
// copying over it. Every message arrives exactly once, in order, with the tag
// of a module in force between its publish and its PUBACK; tags never go
// back; no client is disconnected; no call traps.
func TestHotReloadUnderLoadLosesNothing(t *testing.T) {
	const swaps = 20
	versions := taggedVersions(t, swaps+1)
	r := startReload(t, versions[0])
	sink := mustConnectV5(t, r.addr, &paho.Connect{ClientID: "sink"})
	sink.subscribe(t, "load/#")
	pub := mustConnectV5(t, r.addr, &paho.Connect{ClientID: "pub"})

	// The publisher: one QoS 1 publish per 2 ms tick, sequence numbers in the
	// payload; it reports each PUBACK on acked.
	var mu sync.Mutex
	var log []sent
	acked := make(chan int, 1<<16)
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		defer close(acked)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			at := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			pr, err := pub.Publish(ctx, &paho.Publish{Topic: "load/seq", QoS: 1, Payload: []byte(fmt.Sprintf("%06d", seq))})
			cancel()
			if err != nil || pr.ReasonCode != 0 {
				pubErr <- fmt.Errorf("publish %d: %v %+v", seq, err, pr)
				return
			}
			mu.Lock()
			log = append(log, sent{at, time.Now()})
			mu.Unlock()
			acked <- seq
		}
	}()
	// awaitAcks lets the load run until n more publishes were acknowledged.
	awaitAcks := func(n int) {
		t.Helper()
		for ; n > 0; n-- {
			select {
			case _, ok := <-acked:
				if !ok {
					t.Fatalf("the publisher stopped: %v", <-pubErr)
				}
			case <-time.After(wait):
				t.Fatal("the publisher is stuck")
			}
		}
	}

	// swapped[v] is when version v's file was written, inForceBy[v] when the
	// host was seen serving it (version 0 serves from the start).
	swapped := make([]time.Time, swaps+1)
	inForceBy := make([]time.Time, swaps+1)
	began := time.Now()
	awaitAcks(100)
	for v := 1; v <= swaps; v++ {
		swapped[v] = time.Now()
		if v%2 == 1 {
			writeFileAtomic(t, r.path, versions[v])
		} else if err := os.WriteFile(r.path, versions[v], 0o644); err != nil { // copy over, in place
			t.Fatal(err)
		}
		r.awaitTag(t, fmt.Sprintf("ver-%04d", v))
		inForceBy[v] = time.Now()
		awaitAcks(25)
	}
	awaitAcks(100)
	close(stop)
	for range acked { // until the publisher has returned
	}
	select {
	case err := <-pubErr:
		t.Fatal(err)
	default:
	}
	took := time.Since(began)

	// A last message marks the end: whatever the sink gets before it is all
	// it will get of the load.
	if reason, why := pub.publish1(t, "load/end", nil); reason != 0 {
		t.Fatalf("end marker: PUBACK %#x %q", reason, why)
	}
	mu.Lock()
	published := log
	mu.Unlock()
	seen := make([]int, len(published))
	lastSeq, lastVersion := -1, 0
	versionsSeen := map[int]int{}
	for {
		m := sink.next(t)
		if m.Topic == "load/end" {
			break
		}
		var seq, v int
		if _, err := fmt.Sscanf(string(m.Payload), "%06d|ver-%04d", &seq, &v); err != nil || seq < 0 || seq >= len(published) {
			t.Fatalf("unexpected payload %q (%v)", m.Payload, err)
		}
		seen[seq]++
		versionsSeen[v]++
		if seq <= lastSeq {
			t.Errorf("message %d after %d: out of order or duplicated", seq, lastSeq)
		}
		if v < lastVersion {
			t.Errorf("message %d has ver-%04d after ver-%04d was seen: a tag went back", seq, v, lastVersion)
		}
		// The module that transformed it was in force at some moment between
		// its publish and its PUBACK.
		p := published[seq]
		if (v > 0 && p.acked.Before(swapped[v])) || (v < swaps && p.at.After(inForceBy[v+1])) {
			t.Errorf("message %d (sent %s, acked %s after start) has ver-%04d, in force from %s to %s",
				seq, p.at.Sub(began), p.acked.Sub(began), v, swapped[v].Sub(began), inForceBy[min(v+1, swaps)].Sub(began))
		}
		lastSeq, lastVersion = seq, max(lastVersion, v)
	}
	lost, dup := 0, 0
	for _, n := range seen {
		switch {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	if lost != 0 || dup != 0 {
		t.Errorf("%d messages lost, %d duplicated of %d", lost, dup, len(published))
	}
	if len(versionsSeen) < swaps/2 {
		t.Errorf("only %d of %d versions transformed messages: the load did not run across the swaps", len(versionsSeen), swaps+1)
	}
	pub.stillConnected(t)
	sink.stillConnected(t)
	for _, p := range []string{"probe", "tagged"} {
		if n := r.host.Plugin(p).Traps(); n != 0 {
			t.Errorf("%s: %d traps during the reloads", p, n)
		}
	}
	t.Logf("%d messages in %s (%.0f/s) across %d swaps, %d versions seen transforming",
		len(published), took.Round(time.Millisecond), float64(len(published))/took.Seconds(), swaps, len(versionsSeen))
}

// A broken module dropped in while the broker serves is refused: the old
// module keeps transforming messages, and the log names the error. A good
// module dropped in after it is taken.
func TestBrokenModuleLeavesOldServing(t *testing.T) {
	versions := taggedVersions(t, 2)
	abi7, err := os.ReadFile(filepath.Join(hostTestData, "abi7.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		module []byte
		logged string
	}{
		{"garbage", []byte("this is not a WebAssembly module at all"), "invalid magic number"},
		{"truncated", versions[1][:len(versions[1])/2], "compile"},
		{"abi version 7", abi7, "declares ABI version 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReload(t, versions[0])
			sink := mustConnectV5(t, r.addr, &paho.Connect{ClientID: "sink"})
			sink.subscribe(t, "m")
			pub := mustConnectV5(t, r.addr, &paho.Connect{ClientID: "pub"})
			expect := func(payload, want string) {
				t.Helper()
				if reason, why := pub.publish1(t, "m", []byte(payload)); reason != 0 {
					t.Fatalf("publish: PUBACK %#x %q", reason, why)
				}
				if m := sink.next(t); string(m.Payload) != want {
					t.Errorf("got %q, want %q", m.Payload, want)
				}
			}
			expect("before", "before|ver-0000")

			writeFileAtomic(t, r.path, tc.module)
			select {
			case err := <-r.reloads:
				if err == nil || !strings.Contains(err.Error(), tc.logged) {
					t.Fatalf("reload error = %v, want it to name %q", err, tc.logged)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no reload attempt within 20s")
			}
			expect("during", "during|ver-0000")
			logs := r.logs.String()
			if !strings.Contains(logs, "the old module keeps serving") || !strings.Contains(logs, tc.logged) {
				t.Errorf("log does not name the error %q:\n%s", tc.logged, logs)
			}

			writeFileAtomic(t, r.path, versions[1])
			r.awaitTag(t, "ver-0001")
			expect("after", "after|ver-0001")
			pub.stillConnected(t)
			sink.stillConnected(t)
		})
	}
}
