package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/setting"
)

// filesHost serves the filereader plugin with config {"file": passwd}, where
// passwd is a file in a fresh folder that also holds server.key. Reloads are
// reported on the returned channel.
func filesHost(t *testing.T, engine, answer string) (h *Host, passwd string, events <-chan reloadEvent, logs *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	passwd = filepath.Join(dir, "passwd")
	writeFile(t, passwd, answer+"\n")
	writeFile(t, filepath.Join(dir, "server.key"), "the TLS key\n")
	ch := make(chan reloadEvent, 64)
	cfg := one(engine, "reader", testPlugin(t, "filereader"))
	cfg.ReloadDebounce = 20 * time.Millisecond
	cfg.OnReload = func(name string, err error) { ch <- reloadEvent{name, err} }
	pc := &cfg.Plugins[0]
	pc.Files = []string{"file"}
	pc.Config = ConfigBytes(fmt.Sprintf(`{"file": %q}`, passwd))
	pc.CallTimeout = 10 * time.Second // not about deadlines: a loaded machine must not fail it
	h, logs = startHost(t, cfg)
	return h, passwd, ch, logs
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// answerOf is what the filereader plugin read from its file.
func answerOf(t *testing.T, h *Host) string {
	t.Helper()
	res, err := authorizeDirect(h, "reader", "x")
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	return res.ReasonString
}

// The plugin opens the path its config gives and reads the file; the other
// files of the folder (a TLS key beside a password file) stay out of reach,
// and so does the rest of the host.
func TestDataFileIsReadableAndNothingBesideIt(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, passwd, _, _ := filesHost(t, engine, "alice")
		if got := answerOf(t, h); got != "alice" {
			t.Fatalf("answer = %q, want alice (read from %s)", got, passwd)
		}
		if res, err := authorizeDirect(h, "reader", "open:"+passwd); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("open %s: %v %q, %v; want allow", passwd, res.Verdict, res.ReasonString, err)
		}
		key := filepath.Join(filepath.Dir(passwd), "server.key")
		for _, path := range []string{key, filepath.Dir(passwd), "/etc/passwd"} {
			if res, err := authorizeDirect(h, "reader", "open:"+path); err != nil || res.Verdict != hooks.Deny {
				t.Errorf("open %s: %v, %v; want deny (not readable)", path, res.Verdict, err)
			}
		}
	})
}

// Files in a folder and in a folder inside it are each readable; what else
// the inner folder holds is not.
func TestDataFilesInNestedFolders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		passwd, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "sub", "acl")
		if err := os.Mkdir(filepath.Dir(acl), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, passwd, "alice\n")
		writeFile(t, acl, "topic a\n")
		writeFile(t, filepath.Join(dir, "sub", "other"), "secret\n")
		cfg := one(engine, "reader", testPlugin(t, "filereader"))
		cfg.Plugins[0].Files = []string{"file", "acl"}
		cfg.Plugins[0].Config = ConfigBytes(fmt.Sprintf(`{"file": %q, "acl": %q}`, passwd, acl))
		h, _ := startHost(t, cfg)
		for path, want := range map[string]hooks.Verdict{
			passwd: hooks.Allow, acl: hooks.Allow, filepath.Join(dir, "sub", "other"): hooks.Deny,
		} {
			if res, err := authorizeDirect(h, "reader", "open:"+path); err != nil || res.Verdict != want {
				t.Errorf("open %s: %v %q, %v; want %v", path, res.Verdict, res.ReasonString, err, want)
			}
		}
	})
}

// A data file changed while four goroutines call the plugin without pause:
// each change (in place or by a rename over it) brings a new module that
// read the new file, and no call fails meanwhile.
func TestDataFileChangeReloadsUnderConcurrentCalls(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, passwd, events, logs := filesHost(t, engine, "v0")
		p := h.Plugin("reader")
		var calls, failures atomic.Int64
		var badMu sync.Mutex
		var bad []string
		stop := make(chan struct{})
		var wg sync.WaitGroup
		stopped := false
		defer func() {
			if !stopped {
				close(stop)
				wg.Wait()
			}
		}()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &hooks.Client{ID: "w"}
				for {
					select {
					case <-stop:
						return
					default:
					}
					m := &packets.Publish{Topic: "t", Payload: []byte("m")}
					err := p.Transform(context.Background(), c, m)
					calls.Add(1)
					if got := string(m.Payload); err != nil || !strings.HasPrefix(got, "m|v") {
						failures.Add(1)
						badMu.Lock()
						bad = append(bad, fmt.Sprintf("%q (%v)", got, err))
						badMu.Unlock()
					}
				}
			}()
		}
		for i := 1; i <= 6; i++ {
			answer := fmt.Sprintf("v%d", i)
			if i%2 == 0 {
				writeFile(t, passwd+".tmp", answer+"\n")
				if err := os.Rename(passwd+".tmp", passwd); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, passwd, answer+"\n")
			}
			if err := awaitAnswer(t, h, events, answer); err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
		}
		close(stop)
		wg.Wait()
		stopped = true
		if calls.Load() < 100 || failures.Load() != 0 {
			t.Errorf("%d calls, %d failed (%v)", calls.Load(), failures.Load(), bad[:min(len(bad), 5)])
		}
		if p.Traps() != 0 {
			t.Errorf("traps = %d during reloads\n%s", p.Traps(), logs)
		}
	})
}

// awaitAnswer waits for reloads until the plugin answers want. A write may
// be seen as two changes (truncate, then write) and so bring two reloads.
func awaitAnswer(t *testing.T, h *Host, events <-chan reloadEvent, want string) error {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.err != nil {
				return ev.err
			}
			if got := answerOf(t, h); got == want {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("answer still %q after 30s, want %q", answerOf(t, h), want)
		}
	}
}

// A file the plugin refuses, or one that is gone, keeps the old module
// serving; the log names the file. Fixed, it is loaded.
func TestBadDataFileKeepsOldServing(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, passwd, events, logs := filesHost(t, engine, "good")
		replace := func(s string) {
			writeFile(t, passwd+".tmp", s)
			if err := os.Rename(passwd+".tmp", passwd); err != nil {
				t.Fatal(err)
			}
		}
		replace("bad\n")
		if err := awaitReload(t, events); err == nil || !strings.Contains(err.Error(), passwd+":1: bad line") {
			t.Fatalf("reload error = %v, want the plugin's error naming %s and the line", err, passwd)
		}
		if got := answerOf(t, h); got != "good" {
			t.Errorf("answer = %q, want the old module's good", got)
		}
		log := logs.String()
		if !strings.Contains(log, `"level":"error"`) || !strings.Contains(log, "the old module keeps serving") ||
			!strings.Contains(log, `"files":["`+passwd+`"]`) {
			t.Errorf("log does not report the failure at error level naming the file:\n%s", log)
		}

		if err := os.Remove(passwd); err != nil {
			t.Fatal(err)
		}
		if err := awaitReload(t, events); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), passwd) {
			t.Fatalf("reload error = %v, want the file not found, named", err)
		}
		if got := answerOf(t, h); got != "good" {
			t.Errorf("answer = %q, want the old module's good", got)
		}

		replace("fixed\n")
		if err := awaitAnswer(t, h, events, "fixed"); err != nil {
			t.Fatal(err)
		}
	})
}

// Reload (SIGHUP, a changed config) reads the data files too: a changed
// file is loaded even with the config unchanged, an unchanged one is not,
// and each retired module's snapshot is deleted, the last one by Close.
func TestReloadReadsDataFilesAndDeletesSnapshots(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "reader", testPlugin(t, "filereader"))
		dir := t.TempDir()
		passwd := filepath.Join(dir, "passwd")
		writeFile(t, passwd, "one\n")
		cfg.Plugins[0].Files = []string{"file"}
		cfg.Plugins[0].Config = ConfigBytes(fmt.Sprintf(`{"file": %q}`, passwd))
		cfg.ReloadDebounce = time.Hour // this test reloads by hand only
		h, err := New(context.Background(), nopLog(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		first := h.Plugin("reader").cur.Load()
		snap := first.files.dir
		if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("snapshot %s: %v, %v; want a folder of mode 0700", snap, fi, err)
		}
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if h.Plugin("reader").cur.Load() != first {
			t.Error("Reload with nothing changed loaded the plugin again")
		}
		writeFile(t, passwd, "two\n")
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if got := answerOf(t, h); got != "two" {
			t.Errorf("after Reload: answer = %q, want two", got)
		}
		if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the retired module's snapshot %s is still there (%v)", snap, err)
		}
		last := h.Plugin("reader").cur.Load().files.dir
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(last); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the snapshot %s is still there after Close (%v)", last, err)
		}
	})
}

// A chain entry's file keys are checked with the rest of its config, and
// the error names the entry and the key.
func TestDataFileConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pc   PluginConfig
		key  string
		says string
	}{
		{"key absent", PluginConfig{Files: []string{"file"}, Config: ConfigBytes(`{"fiel": "passwd"}`)}, "chain[0].files", `"file" is not a key of config`},
		{"not a string", PluginConfig{Files: []string{"file"}, Config: ConfigBytes(`{"file": 7}`)}, "chain[0].config.file", "must be the path of a file"},
		{"empty", PluginConfig{Files: []string{"file"}, Config: ConfigBytes(`{"file": ""}`)}, "chain[0].config.file", "must be the path of a file"},
		{"config not a mapping", PluginConfig{Files: []string{"file"}, Config: ConfigBytes(`passwd`)}, "chain[0].config", "must be a mapping"},
		{"no config", PluginConfig{Files: []string{"file"}}, "chain[0].config", "must be a mapping"},
		{"files on a built-in", PluginConfig{Builtin: "x", Wasm: []byte{0}, Files: []string{"file"}, Config: ConfigBytes(`{"file": "p"}`)}, "chain[0].files", "a built-in declares"},
		{"built-in key not a string", PluginConfig{Wasm: []byte{0}, BuiltinFiles: []string{"file"}, Config: ConfigBytes(`{"file": ["p"]}`)}, "chain[0].config.file", "must be the path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.pc.Name = "p"
			if tc.pc.Wasm == nil {
				tc.pc.Path = "p.wasm"
			}
			cfg := Config{Plugins: []PluginConfig{tc.pc}}
			err := cfg.Validate()
			var se *setting.Error
			if !errors.As(err, &se) || se.Key != tc.key || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Validate = %v; want an error about %s saying %q", err, tc.key, tc.says)
			}
		})
	}
	// A built-in's file key may be absent: an optional file (jwt's jwks_file).
	cfg := Config{Plugins: []PluginConfig{{Name: "p", Wasm: []byte{0}, BuiltinFiles: []string{"jwks_file"}, Config: ConfigBytes(`{"keys": []}`)}}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("built-in without its optional file: %v", err)
	}
}

// ResolveFiles makes the relative paths of file keys relative to a folder
// and leaves absolute paths and other keys alone.
func TestResolveFiles(t *testing.T) {
	pc := PluginConfig{Files: []string{"file", "abs"}, Config: ConfigBytes(`{"file": "passwd", "abs": "/etc/acl", "other": "x"}`)}
	if err := pc.ResolveFiles("/etc/plume"); err != nil {
		t.Fatal(err)
	}
	refs, err := pc.fileRefs()
	if err != nil || len(refs) != 2 || refs[0].path != "/etc/plume/passwd" || refs[1].path != "/etc/acl" {
		t.Errorf("refs = %+v, %v; want /etc/plume/passwd and /etc/acl", refs, err)
	}
	if !strings.Contains(string(pc.Config), `"other":"x"`) {
		t.Errorf("config = %s; other keys must stay", pc.Config)
	}
}

// A data file inside a folder the entry also grants whole (allow_fs) is a
// load error: the grant would defeat giving the file alone.
func TestDataFileInsideAllowFSRefused(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	writeFile(t, passwd, "x\n")
	cfg := one(EngineWazero, "reader", testPlugin(t, "filereader"))
	cfg.Plugins[0].Files = []string{"file"}
	cfg.Plugins[0].AllowFS = []string{dir}
	cfg.Plugins[0].Config = ConfigBytes(fmt.Sprintf(`{"file": %q}`, passwd))
	h, err := New(context.Background(), nopLog(), cfg)
	if err == nil {
		h.Close(context.Background())
		t.Fatal("New loaded a data file inside allow_fs")
	}
	if !strings.Contains(err.Error(), "inside allow_fs") {
		t.Errorf("error = %v, want it to say the file is inside allow_fs", err)
	}

	// The root holds every file: allow_fs / is refused too (its snapshot
	// would be mounted inside the root's mount).
	cfg.Plugins[0].AllowFS = []string{string(filepath.Separator)}
	if h, err := New(context.Background(), nopLog(), cfg); err == nil {
		h.Close(context.Background())
		t.Fatal("New loaded a data file with allow_fs /")
	} else if !strings.Contains(err.Error(), "inside allow_fs") {
		t.Errorf("allow_fs /: error = %v, want it to say the file is inside allow_fs", err)
	}
}
