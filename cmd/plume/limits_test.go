package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

func TestQueueLimitsReachTheBroker(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("limits:\n  max_queued_bytes: 8MiB\n  max_queued_bytes_total: 256MiB\n  slow_consumer_timeout: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := brokerOptions(cfg, zerolog.Nop(), nil).Limits
	if l.MaxQueuedBytes != 8<<20 || l.MaxQueuedBytesTotal != 256<<20 || l.SlowConsumerTimeout != 5*time.Second {
		t.Fatalf("broker limits: max_queued_bytes %d, max_queued_bytes_total %d, slow_consumer_timeout %v",
			l.MaxQueuedBytes, l.MaxQueuedBytesTotal, l.SlowConsumerTimeout)
	}
}
