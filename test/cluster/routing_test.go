package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Messages cross between plume processes: Debian's mosquitto_sub on n2
// and n3 receive, in order, every QoS 1 message mosquitto_pub sends to
// n1, and a retained message set through n1 is what a new subscriber on
// n3 gets. The binary's wiring is what this checks: the fabric on the
// node's NATS connection, started with the broker (cmd/plume/cluster.go).
func TestMessagesCrossBetweenPlumeProcesses(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (Debian's mosquitto-clients) is needed: %v", tool, err)
		}
	}
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	subs := []*mosquittoSub{startSub(t, n2, "e2e/#"), startSub(t, n3, "e2e/#")}
	pub := startPub(t, n1, "e2e/data")
	// A subscription reaches the other nodes' NATS servers a moment after
	// its SUBACK (decision 0052); until it has, messages stay on n1. Probes
	// go until both subscribers have one, then the counted messages.
	for _, s := range subs {
		deadline := time.Now().Add(waitFor)
		for !s.saw("e2e/data probe", 100*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no probe published on n1 reached the subscriber on %s", s.node)
			}
			pub.line("probe")
		}
	}
	const n = 200
	for i := range n {
		pub.line(fmt.Sprintf("m%03d", i))
	}
	for _, s := range subs {
		for i := range n {
			want := fmt.Sprintf("e2e/data m%03d", i)
			got := s.next(t, "probe")
			if got != want {
				t.Fatalf("subscriber on %s: got %q, want %q (every message, in the publisher's order)", s.node, got, want)
			}
		}
	}

	// Retained: set on n1 at QoS 1; a subscriber that arrives on n3 later
	// gets it once the broadcast has reached n3's retained index.
	out, err := exec.Command("mosquitto_pub", append(hostPort(n1), "-q", "1", "-r", "-t", "e2e/retained/state",
		"-m", "on")...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub -r: %v: %s", err, out)
	}
	deadline := time.Now().Add(waitFor)
	for {
		out, err := exec.Command("mosquitto_sub", append(hostPort(n3), "-v", "-q", "1", "-t", "e2e/retained/#",
			"-C", "1", "-W", "2")...).Output()
		if err == nil && strings.TrimSpace(string(out)) == "e2e/retained/state on" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new subscriber on n3 never got the retained message set on n1 (last: %q, %v)", out, err)
		}
	}
}

// mosquittoSub is a mosquitto_sub process whose lines arrive on lines.
type mosquittoSub struct {
	node  string
	cmd   *exec.Cmd
	lines chan string
}

func hostPort(nd *node) []string {
	host, port, _ := net.SplitHostPort(nd.mqtt)
	return []string{"-h", host, "-p", port}
}

func startSub(t *testing.T, nd *node, filter string) *mosquittoSub {
	t.Helper()
	return startSubArgs(t, nd, "-V", "mqttv5", "-v", "-q", "1", "-t", filter)
}

func startSubArgs(t *testing.T, nd *node, args ...string) *mosquittoSub {
	t.Helper()
	cmd := exec.Command("mosquitto_sub", append(hostPort(nd), args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &mosquittoSub{node: nd.name, cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return s
}

// saw reports whether line arrives within d, dropping what comes before it.
func (s *mosquittoSub) saw(line string, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return false
			}
			if l == line {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// next returns the next line whose payload is not skip.
func (s *mosquittoSub) next(t *testing.T, skip string) string {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("mosquitto_sub on %s exited", s.node)
			}
			if !strings.HasSuffix(l, " "+skip) {
				return l
			}
		case <-timer.C:
			t.Fatalf("mosquitto_sub on %s: nothing for %s", s.node, waitFor)
		}
	}
}

// mosquittoPub is a mosquitto_pub -l process: each line is a QoS 1 message.
type mosquittoPub struct {
	t  *testing.T
	in io.WriteCloser
}

func startPub(t *testing.T, nd *node, topic string) *mosquittoPub {
	t.Helper()
	cmd := exec.Command("mosquitto_pub", append(hostPort(nd), "-V", "mqttv5", "-q", "1", "-t", topic, "-l")...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		ctx, cancel := context.WithTimeout(context.Background(), stopWait)
		defer cancel()
		select {
		case <-done:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return &mosquittoPub{t: t, in: in}
}

func (p *mosquittoPub) line(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, s+"\n"); err != nil {
		p.t.Fatalf("mosquitto_pub: %v", err)
	}
}

// A cluster node keeps its sessions in JetStream (cmd/plume/cluster.go,
// decision 0054): messages published on n1 for a persistent session whose
// client is offline on n2 are queued there, and are still there, in order,
// after n2 is stopped and started again.
func TestQueuedMessagesSurviveANodeRestart(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2 := c.nodes[0], c.nodes[1]
	persistent := []string{"-i", "dev-1", "-c", "-q", "1", "-v", "-t", "keep/#"}

	// The session and its subscription, known across the cluster before
	// its client leaves (probes until one crosses, as above).
	sub := startSubArgs(t, n2, persistent...)
	pub := startPub(t, n1, "keep/probe")
	deadline := time.Now().Add(waitFor)
	for !sub.saw("keep/probe probe", 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no probe published on n1 reached the subscriber on n2")
		}
		pub.line("probe")
	}
	sub.stop()
	n2.awaitQueued(t, "dev-1", func(int) bool { return true }) // offline: the admin API sees it

	data := startPub(t, n1, "keep/data")
	const n = 50
	for i := range n {
		data.line(fmt.Sprintf("m%02d", i))
	}
	n2.awaitQueued(t, "dev-1", func(q int) bool { return q >= n })

	n2.stop()
	n2.start()
	c.awaitFormed()
	// The restarted node's store Load gave it the session and its queue
	// back: the admin API shows them before the client returns.
	n2.awaitQueued(t, "dev-1", func(q int) bool { return q >= n })
	again := startSubArgs(t, n2, persistent...)
	for i := range n {
		want := fmt.Sprintf("keep/data m%02d", i)
		if got := again.next(t, "probe"); got != want {
			t.Fatalf("after n2's restart: got %q, want %q (every queued message, in order)", got, want)
		}
	}
}

// stop kills the subscriber without a DISCONNECT.
func (s *mosquittoSub) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// awaitQueued waits until the admin API shows client offline on nd with a
// queue cond accepts. The API has no event to wait on and the node logs
// nothing while a queue grows, so it is polled (nd.await wakes on log lines).
func (nd *node) awaitQueued(t *testing.T, client string, cond func(int) bool) {
	t.Helper()
	last := "no answer yet"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		ok, seen := nd.queued(client, cond)
		if ok {
			return
		}
		last = seen
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: client %s not offline with the queue wanted after %s; the admin API says %s", nd.name, client, waitFor, last)
		}
	}
}

// queued asks nd's admin API about client: whether it is offline with a
// queue cond accepts, and what the API said.
func (nd *node) queued(client string, cond func(int) bool) (bool, string) {
	resp, err := http.Get("http://" + nd.http + "/api/v1/clients/" + client)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var info struct {
		Connected bool `json:"connected"`
		Queued    int  `json:"queued"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return false, fmt.Sprintf("%d: %v", resp.StatusCode, err)
	}
	return !info.Connected && cond(info.Queued), fmt.Sprintf("%d: connected %v, queued %d", resp.StatusCode, info.Connected, info.Queued)
}
