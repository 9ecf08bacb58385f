package storetest_test

import (
	"testing"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/storetest"
)

// The broker's default store passes the suite; its data lives as long as
// the value, so a restart inside one process reuses it (Reopen returns it).
func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open:      func(*testing.T) session.Store { return session.NewMemoryStore() },
		Reopen:    func(_ *testing.T, s session.Store) session.Store { return s },
		Clustered: true,
	})
}
