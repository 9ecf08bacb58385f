package crash

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	brokerBin = flag.String("crash.broker", "", "the plume binary to crash; empty builds ./cmd/plume of this module")
	kills     = flag.Int("crash.kills", 20, "how many times the broker is killed with SIGKILL")
	seedFlag  = flag.Uint64("crash.seed", 0, "seed of the kill moments; 0 picks one (it is logged, to replay a run)")
)

// startWait bounds a broker start (recovery included) and stopWait a clean
// stop; both are generous: 2 shared cores, other tests running.
const (
	startWait = 60 * time.Second
	stopWait  = 30 * time.Second
)

// harness owns the broker process and its lives: life 1 is the first start;
// life k+1 begins with the restart after kill k. Actors wait on it for the
// broker to be up and learn from it which life they are in.
type harness struct {
	t       *testing.T
	bin     string
	dir     string // scratch: config, broker logs
	dataDir string // the broker's --data-dir, the same for every life
	addr    string // the same port for every life
	config  string
	seed    uint64
	rng     *rand.Rand // the kill moments; the main goroutine's only
	tag     string     // prefix of topics and client ids: unique per run

	mu      sync.Mutex
	life    int
	up      bool
	changed chan struct{} // closed and replaced on every change of life or up
	proc    *process
	// cleanLife is the life that began with the restart after SIGTERM.
	cleanLife int

	abort chan struct{} // closed when the test ends: every actor returns
	wg    sync.WaitGroup

	// acks counts acknowledgements in the current life; ackSignal wakes
	// the killer, which waits for a number of them.
	acks      atomic.Int64
	ackSignal chan struct{}
	// delivered wakes the final drain when a subscriber got a message.
	delivered chan struct{}

	vmu        sync.Mutex
	violations []string
	lost       map[string][]int // client → the lives it resumed in without Session Present
	raced      bool             // the broker (built with -race) reported a data race
}

// process is one life of the broker.
type process struct {
	cmd     *exec.Cmd
	logDone chan struct{} // its stderr is copied to the log file until EOF
}

func newHarness(t *testing.T) *harness {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	// Not t.TempDir: a failed run keeps the broker's log and data directory.
	dir, err := os.MkdirTemp("", "plume-crash-")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), seed: seed,
		rng: rand.New(rand.NewPCG(seed, 9)), tag: fmt.Sprintf("crash%d", seed%1000000),
		changed: make(chan struct{}), abort: make(chan struct{}), ackSignal: make(chan struct{}, 1), delivered: make(chan struct{}, 1)}
	t.Logf("seed %d (replay: go test ./test/crash -run '%s' -crash.seed %d -crash.kills %d)", seed, t.Name(), seed, *kills)
	t.Cleanup(func() {
		// Abort first, then kill: an actor blocked in a read returns when
		// its connection is reset, and finds the test over.
		close(h.abort)
		h.mu.Lock()
		p, life := h.proc, h.life
		h.mu.Unlock()
		h.setState(life, false)
		if p != nil {
			_ = p.cmd.Process.Kill()
			<-p.logDone
			_ = p.cmd.Wait()
		}
		h.wg.Wait()
		if !t.Failed() {
			if err := os.RemoveAll(dir); err != nil {
				t.Error(err)
			}
			return
		}
		t.Logf("replay: go test ./test/crash -run '%s' -crash.seed %d -crash.kills %d", t.Name(), seed, *kills)
		t.Logf("the end of the broker's log:\n%s", h.logTail(40))
		t.Logf("kept: the broker's log %s, its data directory %s", filepath.Join(dir, "broker.log"), h.dataDir)
	})
	if err := os.Mkdir(h.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Queues unbounded: an offline session gets every message of the run,
	// and a limit that drops would read as a loss.
	h.config = filepath.Join(dir, "plume.yaml")
	cfg := "sys_interval: -1s\nlimits:\n  max_queued: 100000000\n  max_queued_bytes: -1\n  max_queued_bytes_total: -1\n"
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.bin = *brokerBin
	if h.bin == "" {
		h.bin = filepath.Join(dir, "plume")
		// Under -race (make test-race) the broker is built with it too: a
		// race in recovery or in the journal shows in its log.
		args := []string{"build", "-o", h.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../../cmd/plume")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go build ./cmd/plume: %v\n%s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return h
}

// start begins the next life: it starts the broker on the same data
// directory and address, and returns once the broker says it listens.
func (h *harness) start() {
	h.t.Helper()
	log, err := os.OpenFile(filepath.Join(h.dir, "broker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	life := h.life + 1
	h.mu.Unlock()
	fmt.Fprintf(log, "----- life %d\n", life)
	cmd := exec.Command(h.bin, "--listen", h.addr, "--data-dir", h.dataDir, "--config", h.config, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start %s: %v", h.bin, err)
	}
	p := &process{cmd: cmd, logDone: make(chan struct{})}
	h.mu.Lock()
	h.proc = p
	h.mu.Unlock()
	listening := make(chan struct{})
	go func() {
		said := false
		defer close(p.logDone)
		defer log.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			fmt.Fprintf(log, "%s\n", line)
			var m map[string]any
			if json.Unmarshal(line, &m) != nil {
				if strings.Contains(string(line), "WARNING: DATA RACE") {
					h.vmu.Lock()
					h.raced = true
					h.vmu.Unlock()
				}
				continue
			}
			switch m["message"] {
			case "listening":
				if !said {
					close(listening)
					said = true
				}
			case "recovered session store":
				h.t.Logf("life %d: %s", life, line)
			}
		}
	}()
	select {
	case <-listening:
	case <-p.logDone:
		h.t.Fatalf("life %d: the broker exited before listening (data dir %s)", life, h.dataDir)
	case <-time.After(startWait):
		h.t.Fatalf("life %d: the broker did not listen within %v", life, startWait)
	}
	h.acks.Store(0)
	h.setState(life, true)
	h.t.Logf("life %d: listening %v after start", life, time.Since(began).Round(time.Millisecond))
}

// kill ends the current life with SIGKILL and waits for the process to be gone.
func (h *harness) kill() {
	h.t.Helper()
	h.mu.Lock()
	p, life := h.proc, h.life
	h.mu.Unlock()
	h.setState(life, false)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		h.t.Fatalf("kill %d: %v", life, err)
	}
	<-p.logDone
	_ = p.cmd.Wait() // "signal: killed", as asked
	h.mu.Lock()
	h.proc = nil
	h.mu.Unlock()
}

// stop ends the current life with SIGTERM: a clean shutdown, exit status 0.
func (h *harness) stop() {
	h.t.Helper()
	h.mu.Lock()
	p, life := h.proc, h.life
	h.mu.Unlock()
	h.setState(life, false)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-p.logDone:
	case <-time.After(stopWait):
		h.t.Fatalf("life %d: the broker did not stop within %v of SIGTERM", life, stopWait)
	}
	if err := p.cmd.Wait(); err != nil {
		h.t.Errorf("life %d: the broker's clean stop: %v, want exit status 0", life, err)
	}
	h.mu.Lock()
	h.proc = nil
	h.mu.Unlock()
}

func (h *harness) setState(life int, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.life, h.up = life, up
	close(h.changed)
	h.changed = make(chan struct{})
}

var (
	errAborted = errors.New("the test ended")
	errStopped = errors.New("stopped")
)

// await blocks until cond holds for the broker's life and state, and
// returns that life; errAborted when the test ends first, errStopped when
// stop is closed first (nil: never).
func (h *harness) await(stop <-chan struct{}, cond func(life int, up bool) bool) (int, error) {
	for {
		h.mu.Lock()
		life, up, ch := h.life, h.up, h.changed
		h.mu.Unlock()
		if cond(life, up) {
			return life, nil
		}
		select {
		case <-ch:
		case <-stop:
			return life, errStopped
		case <-h.abort:
			return 0, errAborted
		}
	}
}

// awaitUp waits until the broker is up and returns its life.
func (h *harness) awaitUp() (int, error) {
	return h.await(nil, func(_ int, up bool) bool { return up })
}

// describe names a life for reports: which kill or restart it follows.
func (h *harness) describe(life int) string {
	h.mu.Lock()
	clean := h.cleanLife
	h.mu.Unlock()
	switch {
	case life <= 1:
		return "in life 1, before any kill"
	case life == clean:
		return fmt.Sprintf("in life %d, after the clean restart", life)
	}
	return fmt.Sprintf("in life %d, after kill %d", life, life-1)
}

// state is the current life and whether the broker is up.
func (h *harness) state() (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.life, h.up
}

// noteAck counts an acknowledgement for the killer.
func (h *harness) noteAck() {
	h.acks.Add(1)
	select {
	case h.ackSignal <- struct{}{}:
	default:
	}
}

// noteDelivery wakes the final drain.
func (h *harness) noteDelivery() {
	select {
	case h.delivered <- struct{}{}:
	default:
	}
}

// awaitAcks waits until n acknowledgements arrived in this life.
func (h *harness) awaitAcks(n int64, deadline time.Duration) bool {
	timeout := time.After(deadline)
	for h.acks.Load() < n {
		select {
		case <-h.ackSignal:
		case <-timeout:
			return false
		}
	}
	return true
}

// violate records a broken property; the verdict reports them all.
func (h *harness) violate(format string, args ...any) {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
}

// sessionLost records that p resumed without Session Present in life.
func (h *harness) sessionLost(p *peer, life int) {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	if h.lost == nil {
		h.lost = map[string][]int{}
	}
	k := p.name + " (" + p.kind() + ")"
	h.lost[k] = append(h.lost[k], life)
}

// goActor runs an actor; its error fails the test. The returned channel is
// closed when it has returned.
func (h *harness) goActor(name string, run func() error) <-chan struct{} {
	done := make(chan struct{})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(done)
		err := run()
		select {
		case <-h.abort: // the test is over; what failed then is its echo
			return
		default:
		}
		if err != nil && !errors.Is(err, errAborted) {
			h.t.Errorf("%s: %v", name, err)
		}
	}()
	return done
}

// logTail returns the last n lines of the broker's log, all lives.
func (h *harness) logTail(n int) string {
	b, err := os.ReadFile(filepath.Join(h.dir, "broker.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
