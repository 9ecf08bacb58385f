package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	jsstore "github.com/plumemq/plume/store/jetstream"
)

func TestScratchStoreOnNodes(t *testing.T) {
	nodes := startAll(t, testConfigs(t, 3))
	var wg sync.WaitGroup
	for _, n := range nodes[:1] {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			began := time.Now()
			st, err := jsstore.Open(ctx, n.Conn(), jsstore.Config{Node: n.Name(), Replicas: n.Replicas()}, zerolog.New(zerolog.NewTestWriter(t)))
			t.Logf("%s: open %v in %s", n.Name(), err, time.Since(began))
			if st != nil {
				st.Close()
			}
		})
	}
	wg.Wait()
}
