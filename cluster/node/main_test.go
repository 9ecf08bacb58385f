package node

import (
	"testing"

	"go.uber.org/goleak"
)

// Every node a test starts is closed: its server, connection and
// membership poll leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
