package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The quorum flag the broker reads follows the meta group: true once
// started, false on the node left alone when the other two of three stop,
// true again when they come back on their own data.
func TestQuorumFollowsTheMajority(t *testing.T) {
	cfgs := testConfigs(t, 3)
	nodes := startAll(t, cfgs)
	q := nodes[0].Quorum()
	if !q.Load() {
		t.Fatal("n1 has no quorum right after Start, which waited for the meta leader")
	}
	changes := make(chan bool, 8)
	nodes[0].OnQuorumChange(func(ok bool, _ []string) {
		select {
		case changes <- ok:
		default:
		}
	})
	for _, n := range nodes[1:] {
		if err := n.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() string {
		if q.Load() {
			return "n1 alone still says it has the quorum"
		}
		return ""
	})
	if h := nodes[0].Health(); h.Quorum {
		t.Errorf("Health %+v says quorum with the flag down", h)
	}
	if ok := nextChange(t, changes); ok {
		t.Error("OnQuorumChange's first call says regained; want lost")
	}
	startWith(t, cfgs[1:], func(c Config) zerolog.Logger {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Str("node", c.Node).Logger()
	})
	eventually(t, func() string {
		if !q.Load() {
			return "n1 has no quorum with n2 and n3 back"
		}
		return ""
	})
	if ok := nextChange(t, changes); !ok {
		t.Error("OnQuorumChange's second call says lost; want regained")
	}
}

// nextChange is the next verdict OnQuorumChange reported.
func nextChange(t *testing.T, changes <-chan bool) bool {
	t.Helper()
	select {
	case ok := <-changes:
		return ok
	case <-time.After(waitFor):
		t.Fatal("OnQuorumChange was not called")
		return false
	}
}

// A route port another process holds fails Start at once with the listen
// error; it does not wait out start_timeout and report ErrNotReady.
func TestStartFailsFastWhenTheRoutePortIsTaken(t *testing.T) {
	cfg := testConfigs(t, 3)[0]
	taken, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.StartTimeout = waitFor // failing on it would be the bug
	n, err := Start(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err == nil {
		_ = n.Close(context.Background())
		t.Fatal("Start succeeded on a taken route port")
	}
	if errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start: %v; want the listen error, not a timeout", err)
	}
	// Nothing is left running: the client port is free again.
	deadline := time.Now().Add(waitFor)
	for {
		l, err := net.Listen("tcp", cfg.ClientListen)
		if err == nil {
			_ = l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client port is still held after a failed Start: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}

// Connected to a NATS cluster the user runs, the node has the quorum while
// JetStream answers: when that cluster loses its majority (two of three
// servers stop; the connection to the third stays up), JetStream stops
// answering and the node's verdict falls after the grace; it comes back
// with them. (The three servers are embedded nodes' own, standing in for
// the user's cluster: switching JetStream off on a live server instead
// races inside nats-server.)
func TestExternalQuorumFollowsJetStream(t *testing.T) {
	cfgs := testConfigs(t, 3)
	nodes := startAll(t, cfgs)
	ext := Config{NATSURL: nodes[0].ClientURL()}
	if err := ext.Validate(); err != nil {
		t.Fatal(err)
	}
	n := startAll(t, []Config{ext})[0]
	q := n.Quorum()
	if !q.Load() {
		t.Fatal("no quorum right after Start, which waited for JetStream")
	}
	for _, nd := range nodes[1:] {
		if err := nd.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() string {
		if q.Load() {
			return "quorum still held with two of the three servers gone"
		}
		return ""
	})
	if !n.Conn().IsConnected() {
		t.Fatal("the connection to the remaining server dropped: the verdict did not come from JetStream")
	}
	startWith(t, cfgs[1:], func(c Config) zerolog.Logger {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Str("node", c.Node).Logger()
	})
	eventually(t, func() string {
		if !q.Load() {
			return "no quorum with the servers back"
		}
		return ""
	})
}
