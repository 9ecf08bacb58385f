package jetstream

import (
	"testing"

	"go.uber.org/goleak"
)

// Every server, connection and store a test starts is stopped with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
