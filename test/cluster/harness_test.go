package cluster

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var brokerBin = flag.String("cluster.broker", "", "the plume binary to run; empty builds ./cmd/plume of this module once")

// Deadlines for conditions awaited, generous: 2 shared cores, other
// engineers' tests running, and a node's start waits for its peers.
const (
	startWait = 120 * time.Second
	stopWait  = 30 * time.Second
	waitFor   = 60 * time.Second
)

// binDir holds the binary TestMain builds, shared by every test.
var (
	binDir   string
	buildMu  sync.Mutex
	builtBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "plume-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// plumeBinary builds ./cmd/plume once per run (with -race under -race: a
// race in a node shows in its log) or returns -cluster.broker.
func plumeBinary(t *testing.T) string {
	t.Helper()
	if *brokerBin != "" {
		return *brokerBin
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtBin != "" {
		return builtBin
	}
	bin := filepath.Join(binDir, "plume")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "../../cmd/plume")...).CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/plume: %v\n%s", err, out)
	}
	builtBin = bin
	return bin
}

// cluster is a set of plume processes that form one NATS cluster.
type cluster struct {
	t     *testing.T
	bin   string
	dir   string // scratch: configs, logs, data; kept when the test fails
	nodes []*node
}

// node is one plume process and what its log said.
type node struct {
	c       *cluster
	name    string
	mqtt    string // the MQTT listener
	route   string // cluster.listen
	client  string // cluster.client_listen: NATS clients
	http    string // the operations endpoint (/readyz)
	dataDir string
	config  string
	logPath string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change below
	proc    *exec.Cmd
	logDone chan struct{} // the log copier ended (the process's stderr closed)
	joined  bool          // logged "cluster joined" in this life
	serving int           // of its MQTT listener and operations endpoint, how many logged listening
	up      []string      // the members up its log last named
	raced   bool
}

// newCluster prepares n nodes on free loopback ports; start runs them.
func newCluster(t *testing.T, n int) *cluster { return newClusterConfig(t, n, "") }

// newClusterConfig is newCluster with extra, top-level YAML (no listeners,
// http or cluster section) at the head of every node's config.
func newClusterConfig(t *testing.T, n int, extra string) *cluster {
	dir, err := os.MkdirTemp("", "plume-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: plumeBinary(t), dir: dir}
	addrs := freeAddrs(t, 4*n)
	var routes []string
	for i := range n {
		routes = append(routes, addrs[4*i+1])
	}
	for i := range n {
		nd := &node{c: c, name: fmt.Sprintf("n%d", i+1), mqtt: addrs[4*i], route: addrs[4*i+1], client: addrs[4*i+2],
			http: addrs[4*i+3], changed: make(chan struct{})}
		nd.dataDir = filepath.Join(dir, nd.name)
		nd.config = filepath.Join(dir, nd.name+".yaml")
		nd.logPath = filepath.Join(dir, nd.name+".log")
		// One peers list for every node, as an operator writes it.
		yaml := extra + fmt.Sprintf("sys_interval: -1s\nlisteners:\n  - address: %s\nhttp:\n  address: %s\ncluster:\n"+
			"  name: plume-test\n  node: %s\n  listen: %s\n  client_listen: %s\n  peers: [%s]\n  start_timeout: %s\n",
			nd.mqtt, nd.http, nd.name, nd.route, nd.client, strings.Join(routes, ", "), startWait)
		if err := os.WriteFile(nd.config, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if t.Failed() {
				nd.dumpGoroutines()
			}
			nd.kill()
		}
		raced := false
		for _, nd := range c.nodes {
			raced = raced || nd.raced
		}
		if raced {
			t.Errorf("a node reported a data race: see its log in %s", dir)
		}
		if !t.Failed() {
			_ = os.RemoveAll(dir)
			return
		}
		for _, nd := range c.nodes {
			t.Logf("the end of %s's log:\n%s", nd.name, tail(nd.logPath, 30))
		}
		t.Logf("kept: configs, logs and data directories in %s", dir)
	})
	return c
}

// freeAddrs reserves n loopback ports and frees them for the processes.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return addrs
}

// startAll starts every node at once and waits until each has joined and
// sees every node up.
func (c *cluster) startAll() {
	c.t.Helper()
	for _, nd := range c.nodes {
		nd.start()
	}
	c.awaitFormed()
}

// names are the nodes' names, sorted.
func (c *cluster) names() []string {
	var names []string
	for _, nd := range c.nodes {
		names = append(names, nd.name)
	}
	return names
}

// awaitFormed waits until every running node has joined, sees every
// running node up, and serves MQTT and /readyz (both bound after the
// node joined).
func (c *cluster) awaitFormed() {
	c.t.Helper()
	var running []string
	for _, nd := range c.nodes {
		if nd.running() {
			running = append(running, nd.name)
		}
	}
	for _, nd := range c.nodes {
		if nd.running() {
			nd.await(startWait, "joined, seeing "+strings.Join(running, ",")+", serving", func() bool {
				return nd.joined && slices.Equal(nd.up, running) && nd.serving == 2
			})
		}
	}
}

// start runs the node's process (a new life after a stop or kill).
func (nd *node) start() {
	t := nd.c.t
	t.Helper()
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// --data-dir: JetStream's files go under it (cluster.data_dir's default).
	cmd := exec.Command(nd.c.bin, "--config", nd.config, "--data-dir", nd.dataDir, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", nd.name, err)
	}
	done := make(chan struct{})
	nd.mu.Lock()
	nd.proc, nd.logDone, nd.joined, nd.up, nd.serving = cmd, done, false, nil, 0
	nd.mu.Unlock()
	go nd.follow(stderr, logf, done)
}

// follow copies the node's log to its file and reads its membership lines.
func (nd *node) follow(stderr interface{ Read([]byte) (int, error) }, logf *os.File, done chan struct{}) {
	defer close(done)
	defer logf.Close()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(logf, "%s\n", line)
		var m struct {
			Message string   `json:"message"`
			Up      []string `json:"members_up"`
		}
		if json.Unmarshal(line, &m) != nil {
			if strings.Contains(string(line), "WARNING: DATA RACE") {
				nd.update(func() { nd.raced = true })
			}
			continue
		}
		switch m.Message {
		case "cluster joined":
			nd.update(func() { nd.joined, nd.up = true, m.Up })
		case "cluster: node up", "cluster: node down":
			nd.update(func() { nd.up = m.Up })
		case "listening", opsListening:
			nd.update(func() { nd.serving++ })
		}
	}
	nd.update(func() {}) // wake waiters: the process ended
}

// opsListening is the line the operations endpoint logs once bound.
const opsListening = "operations endpoint listening: dashboard /, /metrics, /healthz, /readyz, admin API /api/v1/, /debug/pprof/"

// update changes the node's state under its lock and wakes waiters.
func (nd *node) update(f func()) {
	nd.mu.Lock()
	f()
	close(nd.changed)
	nd.changed = make(chan struct{})
	nd.mu.Unlock()
}

// await waits until cond (called with nd.mu held) holds, failing after
// within with what it waited for and the node's membership then.
func (nd *node) await(within time.Duration, what string, cond func() bool) {
	t := nd.c.t
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		nd.mu.Lock()
		ok, ch, up, exited := cond(), nd.changed, nd.up, nd.exited()
		nd.mu.Unlock()
		switch {
		case ok:
			return
		case exited:
			t.Fatalf("%s exited while waiting for it to be %s", nd.name, what)
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s not %s after %s; its log names up: %v", nd.name, what, within, up)
		}
	}
}

// exited reports whether the current life's process ended. nd.mu held.
func (nd *node) exited() bool {
	if nd.logDone == nil {
		return true
	}
	select {
	case <-nd.logDone:
		return true
	default:
		return false
	}
}

func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.proc != nil && !nd.exited()
}

// stop ends the node with SIGTERM and expects a clean exit.
func (nd *node) stop() {
	t := nd.c.t
	t.Helper()
	nd.mu.Lock()
	p, done := nd.proc, nd.logDone
	nd.mu.Unlock()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(stopWait):
		t.Fatalf("%s did not stop within %s of SIGTERM", nd.name, stopWait)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("%s's clean stop: %v, want exit status 0", nd.name, err)
	}
	nd.mu.Lock()
	nd.proc = nil
	nd.mu.Unlock()
}

// dumpGoroutines has a running node print every goroutine's stack to its
// log and exit (SIGQUIT, Go's runtime does it), so that a failed test
// leaves what each node was doing — a reader stuck, a lock held — beside
// its log lines. It waits for the log to be copied, a bounded time.
func (nd *node) dumpGoroutines() {
	nd.mu.Lock()
	p, done := nd.proc, nd.logDone
	nd.mu.Unlock()
	if p == nil || p.Process.Signal(syscall.SIGQUIT) != nil {
		return
	}
	select {
	case <-done:
	case <-time.After(stopWait):
	}
}

// kill ends the node with SIGKILL, if it runs.
func (nd *node) kill() {
	nd.mu.Lock()
	p, done := nd.proc, nd.logDone
	nd.proc = nil
	nd.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.Process.Kill() // it may have exited already
	<-done
	_ = p.Wait() // "signal: killed", as asked
}

// ready reports /readyz's status code.
func (nd *node) ready() (int, string) {
	resp, err := http.Get("http://" + nd.http + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
