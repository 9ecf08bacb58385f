package node

import (
	"context"
	"testing"
)

// TestPublishConnDoesNotEcho: what the node publishes on PublishConn
// reaches subscribers on Conn but not PublishConn's own subscriptions
// (decision 0058), the same connection comes back on a second call, and
// Close closes it.
func TestPublishConnDoesNotEcho(t *testing.T) {
	cfg := testConfigs(t, 1)[0]
	cfg.Peers = nil
	n := startAll(t, []Config{cfg})[0]
	pc, err := n.PublishConn()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := n.PublishConn(); err != nil || again != pc {
		t.Fatalf("second PublishConn: %p, %v; want the first, %p", again, err, pc)
	}
	own, err := pc.SubscribeSync("echo.test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := n.Conn().SubscribeSync("echo.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish("echo.test", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish("echo.test", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := pc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		m, err := other.NextMsg(waitFor)
		if err != nil || string(m.Data) != want {
			t.Fatalf("on Conn: %v, %v; want %q", m, err, want)
		}
	}
	// Both went out before the PING that Flush waited for, and NATS writes
	// a connection's deliveries before its PONG: had it echoed them, they
	// would be pending here already.
	if msgs, _, err := own.Pending(); err != nil || msgs != 0 {
		t.Fatalf("PublishConn got %d of its own messages back (%v)", msgs, err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !pc.IsClosed() {
		t.Fatal("Close left the publish connection open")
	}
	if _, err := n.PublishConn(); err == nil {
		t.Fatal("PublishConn after Close: no error")
	}
}
