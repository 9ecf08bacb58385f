package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/setting"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readLines parses every JSON line of the files given, in order.
func readLines(t *testing.T, paths ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: line %q is not JSON: %v", p, sc.Text(), err)
			}
			out = append(out, m)
		}
		_ = f.Close()
	}
	return out
}

// The file rotates before a line would take it past max_size, keeps
// max_files old files, drops the oldest, and loses no line in between.
func TestRotationKeepsMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := New(Config{File: path, MaxSize: 4096, MaxFiles: 3}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 400 // about 130 bytes a line: some 13 files' worth
	for i := range n {
		l.AdminAction("ops", "127.0.0.1:1", "disconnect", fmt.Sprintf("client-%04d", i), nil)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(path + "*")
	want := []string{path, path + ".1", path + ".2", path + ".3"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", names, want)
	}
	for _, p := range want {
		st, _ := os.Stat(p)
		if st.Size() > 4096 {
			t.Errorf("%s is %d bytes, over max_size", p, st.Size())
		}
	}
	// Oldest first: .3, .2, .1, then the live file; consecutive targets
	// ending with the last one written.
	lines := readLines(t, path+".3", path+".2", path+".1", path)
	var first int
	fmt.Sscanf(lines[0]["target"].(string), "client-%d", &first)
	for i, m := range lines {
		if want := fmt.Sprintf("client-%04d", first+i); m["target"] != want {
			t.Fatalf("line %d is %v, want %s: a line was lost in a rotation", i, m["target"], want)
		}
	}
	if first+len(lines) != n || first == 0 {
		t.Fatalf("kept lines %d..%d, want the newest ending at %d, the oldest dropped", first, first+len(lines)-1, n-1)
	}
}

// blockingSink holds the writer in put until released.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	got     []Event
	once    sync.Once
}

func (s *blockingSink) put(ev Event) error {
	s.once.Do(func() { close(s.entered); <-s.release })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ev)
	return nil
}

func (s *blockingSink) close() error        { return nil }
func (s *blockingSink) flush() (int, error) { return 0, nil }

// With the writer stuck, events past the queue are counted, not waited for;
// once it moves again, a dropped event says how many were lost.
func TestFullQueueRecordsDroppedSummary(t *testing.T) {
	s := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	l := start(Config{}, zerolog.Nop(), s, 4)
	l.AdminAction("ops", "", "first", "", nil)
	<-s.entered // the writer holds the first event; the queue is empty
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 { // 4 fit, 6 are lost
			l.AdminAction("ops", "", "more", "", nil)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("recording blocked on a stuck writer")
	}
	if got := l.Dropped(); got != 6 {
		t.Fatalf("Dropped = %d, want 6", got)
	}
	close(s.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var dropped []Event
	for _, ev := range s.got {
		if ev.Class == ClassDropped {
			dropped = append(dropped, ev)
		}
	}
	if len(s.got) != 1+4+1 || len(dropped) != 1 || dropped[0].Dropped != 6 {
		t.Fatalf("written %d events with dropped %+v; want 5 events and one dropped event counting 6", len(s.got), dropped)
	}
}

// failingSink refuses every event.
type failingSink struct{}

func (failingSink) put(Event) error     { return errors.New("disk full") }
func (failingSink) close() error        { return nil }
func (failingSink) flush() (int, error) { return 0, nil }

// A destination that fails is counted and logged once per minute, and the
// caller never sees it.
func TestWriteErrorsAreCountedAndLoggedRateLimited(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	w := zerolog.SyncWriter(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }))
	l := start(Config{}, zerolog.New(w), failingSink{}, 16)
	for range 5 {
		l.ConfigReload("SIGHUP", nil, nil, nil)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := l.WriteErrors(); got != 5 {
		t.Errorf("WriteErrors = %d, want 5", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(logs.String(), `"message":"audit log write failed"`); got != 1 {
		t.Errorf("%d write-failure lines, want 1 (the rest held back):\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `"suppressed":4`) {
		t.Errorf("the held-back count is not reported:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// With log: true, events go to the main log at info with "audit": true.
func TestAuditToTheMainLog(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Config{Log: true}, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	l.Denied(&hooks.Client{ID: "c1", Username: "u", RemoteAddr: "10.0.0.1:5", Creds: &hooks.Credentials{Password: []byte("secret")}}, "publish", "a/b", packets.NotAuthorized, "acl")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	r, _ := m["reason"].(map[string]any)
	if m["level"] != "info" || m["audit"] != true || m["event"] != "authz_denied" || m["client_id"] != "c1" ||
		m["topic"] != "a/b" || r["code"] != float64(0x87) || r["name"] == "" || m["event_time"] == nil {
		t.Errorf("log line %v lacks the audit fields", m)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("the password reached the log: %s", buf.String())
	}
}

// A client repeating a denied action gets limitPerKey lines a minute; the
// rest are counted on a summary, so the lines and counts add up.
func TestDenialsAreRateLimitedPerClient(t *testing.T) {
	s := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	close(s.release)
	l := start(Config{}, zerolog.Nop(), s, 4096)
	c := &hooks.Client{ID: "flood"}
	const n = 1000
	for range n {
		l.Denied(c, "publish", "x", packets.NotAuthorized, "")
	}
	l.Denied(&hooks.Client{ID: "other"}, "publish", "x", packets.NotAuthorized, "")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var lines, summaries int
	var counted uint64
	for _, ev := range s.got {
		if ev.ClientID != "flood" {
			continue
		}
		if ev.Summary {
			summaries++
		} else {
			lines++
		}
		counted += ev.Suppressed
	}
	if lines != limitPerKey || summaries != 1 || uint64(lines)+counted != n {
		t.Errorf("%d lines and %d summaries counting %d, want %d lines and one summary adding up to %d",
			lines, summaries, counted, limitPerKey, n)
	}
	if len(s.got) != lines+summaries+1 {
		t.Errorf("%d events in all; the other client's denial should be there once", len(s.got))
	}
}

// Only the classes configured are recorded; Recent keeps the last 256.
func TestClassesFilterAndRecent(t *testing.T) {
	s := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	close(s.release)
	l := start(Config{Events: []Class{ClassAdmin}}, zerolog.Nop(), s, 4096)
	for i := range 300 {
		l.AdminAction("ops", "", "disconnect", fmt.Sprint(i), nil)
		l.ConfigReload("SIGHUP", nil, nil, nil)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 300 {
		t.Errorf("%d events written, want the 300 admin ones only", len(s.got))
	}
	r := l.Recent(1000)
	if len(r) != 256 || r[0].Target != "44" || r[255].Target != "299" {
		t.Errorf("Recent(1000) has %d events from %q to %q, want 256 from 44 to 299", len(r), r[0].Target, r[len(r)-1].Target)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		key string
	}{
		{Config{}, "file"},
		{Config{File: "a", Log: true}, "log"},
		{Config{File: "a", MaxSize: 10}, "max_size"},
		{Config{File: "a", MaxFiles: -1}, "max_files"},
		{Config{Log: true, Events: []Class{ClassConnect, "conect"}}, "events[1]"},
	} {
		err := tc.cfg.Validate()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != tc.key {
			t.Errorf("%+v: Validate = %v, want an error on %s", tc.cfg, err, tc.key)
		}
	}
	if err := (&Config{File: "a", MaxSize: 1 << 20, Events: Classes}).Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// The methods the binary calls make one line each with their fields: an
// admin action, a config reload, a plugin swap and a plugin failure.
func TestAdminReloadAndPluginEventsMakeOneLineEach(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Config{File: path}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	l.AdminAction("alice", "127.0.0.1:9", "disconnect", "meter-7", nil)
	l.ConfigReload("SIGHUP", []string{"limits.max_inflight"}, []string{"store.path"}, nil)
	l.Plugin(PluginEvent{Class: ClassPluginSwap, Plugin: "acl", Hash: "bb", OldHash: "aa"})
	l.Plugin(PluginEvent{Class: ClassPluginFailure, Plugin: "acl", Hash: "bb", Cause: "trap", Point: "authorize", Err: errors.New("unreachable")})
	l.Quorum("n1", false, []string{"n1"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5: %v", len(lines), lines)
	}
	check := func(m map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				t.Errorf("%s line: %s = %v, want %v", m["event"], k, m[k], v)
			}
		}
	}
	check(lines[0], map[string]any{"event": "admin", "actor": "alice", "remote": "127.0.0.1:9", "action": "disconnect", "target": "meter-7"})
	check(lines[1], map[string]any{"event": "config_reload", "trigger": "SIGHUP", "applied": []any{"limits.max_inflight"}, "needs_restart": []any{"store.path"}})
	check(lines[2], map[string]any{"event": "plugin_swap", "plugin": "acl", "hash": "bb", "old_hash": "aa"})
	check(lines[3], map[string]any{"event": "plugin_failure", "plugin": "acl", "action": "trap authorize", "error": "unreachable"})
	check(lines[4], map[string]any{"event": "cluster", "action": "quorum_lost", "target": "n1", "members_up": []any{"n1"}})
}
