package broker

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

// failingStore rejects every Commit: the journal gives the ops up (a
// passing failure would be retried, and the answers would wait instead).
type failingStore struct{ *session.MemoryStore }

func (failingStore) Commit([]session.Op) error {
	return fmt.Errorf("disk gone: %w", session.ErrRejected)
}

// An answer held on batches whose commit has already failed when it is
// held (the commit ran between the packet's changes and its answer) is
// dropped, and the connection ends so that the client resends: the failure
// must not be lost because nobody was waiting when it happened.
func TestHoldOnABatchThatAlreadyFailed(t *testing.T) {
	b, err := New(Options{AllowAnonymous: true, SysInterval: -1, Store: failingStore{session.NewMemoryStore()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	}()
	conn, peer := net.Pipe()
	defer peer.Close()
	c := newClient(b, conn, "test")
	c.version = packets.V5
	c.beginPacket()
	b.journal.DeleteRetained("t") // the packet's change
	ticket, _ := b.journal.Since(c.durable().mark)
	if b.journal.Wait(ticket, 5*time.Second) {
		t.Fatal("the commit succeeded against a failing store")
	}
	c.sendAckHeld(packets.TypePuback, 1, packets.Success, "")
	if c.stop.Load() == nil {
		t.Fatal("the connection was not asked to end: the withheld PUBACK would never come")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.out) != 0 || len(c.durable().held) != 0 {
		t.Fatalf("%d bytes pending, %d held: the PUBACK of a failed commit must be dropped", len(c.out), len(c.durable().held))
	}
}
