package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

var errDisk = errors.New("disk full")

// faultyStore is a MemoryStore whose chosen operations fail, as a store on a
// full disk would.
type faultyStore struct {
	*session.MemoryStore
	failSave, failDelete, failDeleteRetained bool
}

func (s *faultyStore) SaveSession(r session.Record) error {
	if s.failSave {
		return errDisk
	}
	return s.MemoryStore.SaveSession(r)
}

func (s *faultyStore) DeleteSession(id string) error {
	if s.failDelete {
		return errDisk
	}
	return s.MemoryStore.DeleteSession(id)
}

func (s *faultyStore) DeleteRetained(topic string) error {
	if s.failDeleteRetained {
		return errDisk
	}
	return s.MemoryStore.DeleteRetained(topic)
}

// storeErrors returns the log entries about failed store calls of op.
func (l *logBuffer) storeErrors(op string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["store_op"] == op {
			out = append(out, e)
		}
	}
	return out
}

// Clearing a retained message that the store then fails to delete brings it
// back at the next start: the broker must say so, with the topic.
func TestAFailedRetainedClearIsLoggedWithItsTopic(t *testing.T) {
	logs := &logBuffer{}
	store := &faultyStore{MemoryStore: session.NewMemoryStore(), failDeleteRetained: true}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: store, Log: zerolog.New(logs)})
	c, _ := connectRaw(t, tb.addr, v5Connect("retainer"))
	c.publish(&packets.Publish{Topic: "ret/x", Payload: []byte("v"), Retain: true, QoS: 1, PacketID: 1})
	c.expectAck(packets.TypePuback, 1)
	c.publish(&packets.Publish{Topic: "ret/x", Retain: true, QoS: 1, PacketID: 2}) // empty payload: clear
	c.expectAck(packets.TypePuback, 2)
	lines := logs.storeErrors("delete_retained")
	if len(lines) != 1 || lines[0]["topic"] != "ret/x" || lines[0]["error"] != errDisk.Error() || lines[0]["level"] != "error" {
		t.Fatalf("log lines about the failed delete: %v, want one error naming ret/x", lines)
	}
}

// A session found expired at start-up is deleted; if the store refuses, the
// broker says which.
func TestAFailedDeleteOfASessionExpiredAtStartIsLogged(t *testing.T) {
	logs := &logBuffer{}
	store := &faultyStore{MemoryStore: session.NewMemoryStore(), failDelete: true}
	old := session.Record{Version: session.FormatVersion, ID: "gone", Expiry: 1, DisconnectedAt: time.Now().Add(-time.Hour).UnixNano()}
	if err := store.MemoryStore.SaveSession(old); err != nil {
		t.Fatal(err)
	}
	startBroker(t, broker.Options{AllowAnonymous: true, Store: store, Log: zerolog.New(logs)})
	lines := logs.storeErrors("delete_session")
	if len(lines) != 1 || lines[0]["client_id"] != "gone" {
		t.Fatalf("log lines about the failed delete: %v, want one naming client gone", lines)
	}
}

// A store holding a record of a version this broker does not know must stop
// it from starting, not be read as if it were known nor dropped.
func TestARecordOfAnUnknownVersionStopsTheBroker(t *testing.T) {
	store := &versionStore{MemoryStore: session.NewMemoryStore()}
	b, err := broker.New(broker.Options{Store: store, SysInterval: -1})
	if err == nil {
		_ = b.Shutdown(context.Background())
		t.Fatal("broker.New accepted a session record of format version 99")
	}
	if !errors.Is(err, session.ErrUnknownVersion) || !strings.Contains(err.Error(), `"future"`) {
		t.Fatalf("broker.New: %v, want ErrUnknownVersion naming the session", err)
	}
}

// versionStore loads one record written by a newer broker.
type versionStore struct{ *session.MemoryStore }

func (versionStore) Load() (session.Snapshot, error) {
	return session.Snapshot{Sessions: []session.Record{{Version: 99, ID: "future", Expiry: 60, DisconnectedAt: time.Now().UnixNano()}}}, nil
}

// Shutdown's error names each session it could not save.
func TestShutdownNamesTheSessionsItCouldNotSave(t *testing.T) {
	store := &faultyStore{MemoryStore: session.NewMemoryStore()}
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store})
	cp := v5Connect("keeper")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packets.PropSessionExpiry)
	connectRaw(t, tb.addr, cp)
	store.failSave = true // only the shutdown save fails
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := tb.Shutdown(ctx)
	<-tb.done
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), `"keeper"`) {
		t.Fatalf("Shutdown: %v, want the store's error naming keeper", err)
	}
}

// Every failed save of a session is accounted for in the log, whether
// written or counted as suppressed, and a failing disk does not write a
// line per disconnect.
func TestSessionSaveFailuresAreRateLimitedAndCounted(t *testing.T) {
	logs := &logBuffer{}
	store := &faultyStore{MemoryStore: session.NewMemoryStore(), failSave: true}
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store, Log: zerolog.New(logs)})
	const n = 20
	for i := range n {
		cp := v5Connect("p" + string(rune('a'+i)))
		cp.CleanStart = false
		cp.Properties.SessionExpiry = 3600
		cp.Properties.Set(packets.PropSessionExpiry)
		c, _ := connectRaw(t, tb.addr, cp)
		c.disconnect(packets.Success)
		c.expectClosed()
	}
	eventually(t, "every disconnect handled", func() bool { return tb.Stats().ClientsConnected == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = tb.Shutdown(ctx) // fails too (the same sessions), and writes the counts held back
	<-tb.done
	var accounted uint64
	lines := logs.storeErrors("save_session")
	for _, e := range lines {
		if _, failure := e["error"]; failure {
			accounted++
		}
		if s, ok := e["suppressed"].(float64); ok {
			accounted += uint64(s)
		}
	}
	if accounted != n {
		t.Errorf("log accounts for %d failed saves, want %d (%d lines)", accounted, n, len(lines))
	}
	if len(lines) > n/2 {
		t.Errorf("%d lines for %d failures in a moment: not rate-limited", len(lines), n)
	}
}
