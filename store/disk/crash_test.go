package disk

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
)

var crashKills = flag.Int("disk.kills", 3, "kill -9 rounds of TestKill9KeepsAcknowledgedCommits per mode")

// crashOps is the i-th Commit of the crash tests (from 1): deterministic,
// so that the state after any prefix of them can be computed again. It
// touches every kind of op: a message and its delivery, a delivery and its
// message acknowledged, a record rewritten, a retained topic replaced, an
// inbound id, and now and then a session ended and made again.
func crashOps(i uint64) []session.Op {
	c := fmt.Sprintf("c%d", i%5)
	m := &session.Message{Topic: "t/" + c, Payload: []byte(strconv.FormatUint(i, 10)), QoS: 1, ID: i}
	ops := []session.Op{
		{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: c, Expiry: uint32(i)}},
		{Kind: session.PutMessage, Message: m},
		{Kind: session.PutDelivery, Client: c, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: i}},
		{Kind: session.PutRetained, Message: &session.Message{Topic: fmt.Sprintf("r/%d", i%7), Payload: m.Payload, Retain: true}},
		{Kind: session.PutInbound, Client: c, PacketID: uint16(i)},
		{Kind: session.DeleteInbound, Client: c, PacketID: uint16(i - 5)},
	}
	if i > 10 {
		old := fmt.Sprintf("c%d", (i-10)%5)
		ops = append(ops, session.Op{Kind: session.DeleteDelivery, Client: old, Seq: i - 10}, session.Op{Kind: session.DeleteMessage, MessageID: i - 10})
	}
	if i%13 == 0 {
		ops = append(ops, session.Op{Kind: session.DeleteSession, Client: c},
			session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: c, Expiry: 1}})
	}
	return ops
}

// model replays crashOps on a MemoryStore, the reference implementation.
type model struct {
	m *session.MemoryStore
	n uint64 // commits applied
}

func (md *model) advance(t *testing.T, to uint64) {
	t.Helper()
	if md.m == nil {
		md.m = session.NewMemoryStore()
	}
	for ; md.n < to; md.n++ {
		if err := md.m.Commit(crashOps(md.n + 1)); err != nil {
			t.Fatal(err)
		}
	}
}

func (md *model) snapshot(t *testing.T) session.Snapshot {
	t.Helper()
	snap, err := md.m.Load()
	if err != nil {
		t.Fatal(err)
	}
	return normal(snap)
}

// normal sorts what the contract leaves unordered.
func normal(s session.Snapshot) session.Snapshot {
	slices.SortFunc(s.Sessions, func(a, b session.Record) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Retained, func(a, b session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	for i := range s.Sessions {
		slices.Sort(s.Sessions[i].InboundQoS2)
	}
	return s
}

// prefix returns the j in [from, to] such that the state got is the state
// after crashOps 1..j, or fails the test: a crash must leave the state of
// some prefix of the Commits.
func (md *model) prefix(t *testing.T, got session.Snapshot, from, to uint64) uint64 {
	t.Helper()
	got = normal(got)
	if from < md.n {
		md.m, md.n = nil, 0 // the model only moves forward; start again
	}
	for j := from; j <= to; j++ {
		md.advance(t, j)
		if reflect.DeepEqual(md.snapshot(t), got) {
			return j
		}
	}
	t.Fatalf("the state after the crash is not the state after any of commits %d..%d (sessions %d, retained %d)", from, to, len(got.Sessions), len(got.Retained))
	return 0
}

// TestKill9KeepsAcknowledgedCommits runs a child process that commits in a
// loop and prints the number of each Commit that returned; the parent kills
// it with SIGKILL after a random number of them, reopens the directory and
// checks that the state is that after some prefix of the Commits. In sync
// mode the prefix holds every printed (acknowledged) Commit. In async mode
// a process crash may lose what Pebble had not yet written, so only the
// prefix is checked. -disk.kills sets the rounds.
func TestKill9KeepsAcknowledgedCommits(t *testing.T) {
	if dir := os.Getenv("PLUME_DISK_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	for _, mode := range []string{ModeSync, ModeAsync} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			rng := rand.New(rand.NewPCG(uint64(len(mode)), 9))
			var md model
			var state uint64 // the commits the directory holds
			for kill := range *crashKills {
				acked := runAndKill(t, dir, mode, state+1, 1+rng.IntN(300))
				s := openT(t, Config{Path: dir})
				snap, err := s.Load()
				if err != nil {
					t.Fatalf("kill %d: Load: %v", kill, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				from := state
				if mode == ModeSync {
					from = max(acked, state)
				}
				state = md.prefix(t, snap, from, max(acked, state)+1)
				t.Logf("kill %d: %d commits acknowledged, the store holds %d", kill, acked, state)
			}
		})
	}
}

// runAndKill runs the child from Commit start, kills it once it has
// acknowledged n Commits, and returns the last acknowledged one (start-1 if
// none).
func runAndKill(t *testing.T, dir, mode string, start uint64, n int) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9KeepsAcknowledgedCommits$")
	cmd.Env = append(os.Environ(), "PLUME_DISK_CRASH_CHILD="+dir, "PLUME_DISK_CRASH_MODE="+mode,
		"PLUME_DISK_CRASH_START="+strconv.FormatUint(start, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last, seen := start-1, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue // the test framework's own output
		}
		i, err := strconv.ParseUint(v, 10, 64)
		if err != nil || i != last+1 {
			t.Fatalf("child printed %q after ack %d", sc.Text(), last)
		}
		last = i
		if seen++; seen == n {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	// Lines the child wrote before it died are read above: acknowledged too.
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited by itself")
	}
	if seen < n {
		t.Fatalf("the child died after %d acknowledgements, before it was killed", seen)
	}
	return last
}

// crashChild commits crashOps from PLUME_DISK_CRASH_START on, printing each
// one acknowledged, until it is killed.
func crashChild(dir string) {
	start, err := strconv.ParseUint(os.Getenv("PLUME_DISK_CRASH_START"), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := Open(Config{Path: dir, Mode: os.Getenv("PLUME_DISK_CRASH_MODE"), SyncInterval: 5 * 1e6}, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := start; ; i++ {
		if err := s.Commit(crashOps(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ack %d\n", i) // os.Stdout is unbuffered: printed is acknowledged
	}
}

// TestPowerLossKeepsSyncedCommits crashes the machine rather than the
// process: Pebble's crashable in-memory file system keeps, in a clone taken
// while a writer commits, only what was fsynced (and, in async mode, a
// random part of what was not). The clone must open to the state after a
// prefix of the Commits, in sync mode one holding every Commit acknowledged
// before the crash.
func TestPowerLossKeepsSyncedCommits(t *testing.T) {
	for _, mode := range []string{ModeSync, ModeAsync} {
		t.Run(mode, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s, err := open(Config{Path: "/store", Mode: mode, SyncInterval: time.Millisecond}, zerolog.Nop(), fs)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(7, uint64(len(mode))))
			var md model
			var acked atomic.Uint64
			var floor uint64
			for crash := range 5 {
				// A writer commits; the crash comes after 1 to 100 more
				// Commits, in the middle of the next.
				stop, done := make(chan struct{}), make(chan error, 1)
				go func() {
					for i := acked.Load() + 1; ; i++ {
						select {
						case <-stop:
							done <- nil
							return
						default:
						}
						if err := s.Commit(crashOps(i)); err != nil {
							done <- err
							return
						}
						acked.Store(i)
					}
				}()
				for target := acked.Load() + uint64(1+rng.IntN(100)); acked.Load() < target; {
					runtime.Gosched()
				}
				before := acked.Load()
				clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
				after := acked.Load()
				close(stop)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				c, err := open(Config{Path: "/store"}, zerolog.Nop(), clone)
				if err != nil {
					t.Fatalf("crash %d: open the clone: %v", crash, err)
				}
				snap, err := c.Load()
				if err != nil {
					t.Fatalf("crash %d: Load: %v", crash, err)
				}
				from := uint64(0)
				if mode == ModeSync {
					from = max(before, floor)
				}
				j := md.prefix(t, snap, from, after+1)
				floor = j
				t.Logf("crash %d: %d acknowledged before the crash, the clone holds %d", crash, before, j)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
