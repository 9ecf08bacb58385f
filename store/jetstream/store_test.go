package jetstream

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
	"github.com/plumemq/plume/store/storetest"
)

// TestConformance runs the store suite against stores on one in-process
// JetStream server, each with streams of its own; Reopen closes the store
// and opens its streams again.
func TestConformance(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) session.Store { return openT(t, nc, freshConfig("n1")) },
		Reopen: func(t *testing.T, s session.Store) session.Store {
			js := s.(*Store)
			if err := js.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openT(t, nc, js.Config())
		},
		PlantFuture: func(t *testing.T, s session.Store, id string) {
			js := s.(*Store)
			v := appendString(nil, js.Node())
			v = append(v, codec.RecordVersion+1, 0xFF, 0xFF, 0xFF)
			if _, err := js.js.Publish(context.Background(), js.names.sessionSubject(id), v); err != nil {
				t.Fatal(err)
			}
		},
	})
}
