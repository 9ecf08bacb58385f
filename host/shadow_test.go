package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// shadowed is a Config of one plugin, serving at path with serving as its
// config, and its shadow at candPath with cand as its config.
func shadowed(engine, path, serving, candPath, cand string) Config {
	cfg := one(engine, "acl", path)
	cfg.Plugins[0].Config = ConfigBytes(serving)
	cfg.Plugins[0].Shadow = &ShadowConfig{PluginConfig: PluginConfig{Path: candPath, Config: ConfigBytes(cand), PoolSize: 1, CallTimeout: 200 * time.Millisecond}}
	return cfg
}

// settled waits until every event offered to name's shadow is accounted
// for: compared, failed or dropped; n events were offered.
func settled(t *testing.T, h *Host, name string, n uint64) ShadowStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := h.Plugin(name).Shadow()
		if !ok {
			t.Fatalf("%s has no shadow", name)
		}
		if st.Agreed+st.Disagreed+st.Errors+st.Dropped >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow settled on %+v, want %d events accounted for", st, n)
		}
		time.Sleep(5 * time.Millisecond) // polling counters: no event to await
	}
}

func authz(h *Host, client *hooks.Client, topic string, qos byte) hooks.AuthzResult {
	res, _ := h.Chain().Authorize(context.Background(), &hooks.AuthzRequest{Client: client, Topic: topic, QoS: qos})
	return res
}

// The candidate sees what the serving plugin sees; where they disagree the
// client gets the serving answer, and the shadow counts the disagreement by
// kind and logs it with the event, never the password.
func TestShadowDisagreementsAreCountedAndLogged(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		rules := testPlugin(t, "rules")
		h, logs := startHost(t, shadowed(engine, rules,
			`{"tag": "v1", "deny": ["secret/"], "deny_users": ["mallory"]}`, rules,
			`{"tag": "v2", "deny": ["secret/", "private/"], "max_qos": {"slow/": 1}, "attrs": {"role": "reader"}}`))
		ctx := context.Background()
		alice := &hooks.Client{ID: "alice-1", Username: "alice", RemoteAddr: "192.0.2.7:4000", Handle: 7, Creds: &hooks.Credentials{Password: []byte("hunter2")}}
		mallory := &hooks.Client{ID: "mallory-1", Username: "mallory", RemoteAddr: "192.0.2.8:4000", Handle: 8, Creds: &hooks.Credentials{Password: []byte("s3cret!")}}
		for _, c := range []*hooks.Client{alice, mallory} {
			res, err := h.Chain().Authenticate(ctx, &hooks.AuthRequest{Client: c})
			if want := map[string]hooks.Verdict{"alice": hooks.Allow, "mallory": hooks.Deny}[c.Username]; err != nil || res.Verdict != want || res.Attributes != nil {
				t.Fatalf("authenticate %s = %+v, %v; want the serving plugin's %v without attributes", c.Username, res, err, want)
			}
		}
		for topic, want := range map[string]hooks.Verdict{"a/b": hooks.Allow, "secret/x": hooks.Deny, "private/x": hooks.Allow, "slow/x": hooks.Allow} {
			if res := authz(h, alice, topic, 2); res.Verdict != want || res.LowerQoS {
				t.Fatalf("authorize %s = %+v, want the serving plugin's %v, no QoS cap", topic, res, want)
			}
		}
		st := settled(t, h, "acl", 6)
		// alice: attributes; mallory: verdict; private/x: verdict and cache; slow/x: max_qos.
		want := map[string]uint64{"attributes": 1, "verdict": 2, "cache": 1, "max_qos": 1}
		for k, n := range st.ByKind {
			if n != want[k] {
				t.Errorf("disagreements on %s = %d, want %d (%+v)", k, n, want[k], st)
			}
		}
		if st.Agreed != 2 || st.Disagreed != 4 || st.Errors != 0 || st.Dropped != 0 || st.Candidate != "acl/shadow" {
			t.Errorf("stats %+v; want 2 agreed (a/b, secret/x), 4 disagreed", st)
		}
		out := logs.String()
		for _, s := range []string{`"message":"shadow plugin disagrees"`, `"client_id":"alice-1"`, `"remote":"192.0.2.7:4000"`,
			`"topic":"private/x"`, `"serving":"allow"`, `"shadow":"deny 0x87 not authorized: v2 cacheable"`, `"differs":"verdict,cache"`,
			`"shadow":"allow attributes={role=reader}"`, `"username":"mallory"`} {
			if !strings.Contains(out, s) {
				t.Errorf("log lacks %s:\n%s", s, out)
			}
		}
		for _, secret := range []string{"hunter2", "s3cret!"} {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds a password:\n%s", out)
			}
		}
	})
}

// A candidate that loops, traps or sleeps costs its own workers only: every
// client gets the serving answer, the failures are counted as errors (not
// disagreements), and the serving plugin and the chain count none.
func TestHostileShadowNeverAffectsAnswers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, _ := startHost(t, shadowed(engine, testPlugin(t, "rules"), `{"deny": ["panic"]}`, testPlugin(t, "hostile"), ""))
		c := &hooks.Client{ID: "c", RemoteAddr: "127.0.0.1:1"}
		topics := []string{"loop", "panic", "fine", "loop", "sleep:20ms", "fine"}
		for _, topic := range topics {
			want := hooks.Allow
			if topic == "panic" {
				want = hooks.Deny
			}
			if res := authz(h, c, topic, 0); res.Verdict != want {
				t.Fatalf("authorize %s = %v, want the serving plugin's %v", topic, res.Verdict, want)
			}
		}
		st := settled(t, h, "acl", uint64(len(topics)))
		// loop twice (deadline) and panic (a trap) fail; panic is no disagreement.
		if st.Errors != 3 || st.Agreed != 3 || st.Disagreed != 0 || st.Dropped != 0 {
			t.Errorf("stats %+v; want 3 errors, 3 agreed", st)
		}
		if n := h.Plugin("acl/shadow").Traps(); n != 3 {
			t.Errorf("candidate traps = %d, want 3", n)
		}
		if n, e := h.Plugin("acl").Traps(), h.Chain().Errors(); n != 0 || e != 0 {
			t.Errorf("serving traps %d, chain errors %d; want 0: the candidate's failures are its own", n, e)
		}
		if res := authz(h, c, "fine", 0); res.Verdict != hooks.Allow {
			t.Errorf("after the candidate's failures: %v, want allow", res.Verdict)
		}
	})
}

// With its one worker stuck in a loop, a candidate's full queue drops the
// events that do not fit, counted; none waits and none is lost uncounted.
func TestShadowQueueFullDropsAndCounts(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := shadowed(engine, testPlugin(t, "rules"), "", testPlugin(t, "hostile"), "")
		cfg.Plugins[0].Shadow.Queue = 1
		cfg.Plugins[0].Shadow.CallTimeout = time.Second
		h, _ := startHost(t, cfg)
		c := &hooks.Client{ID: "c", RemoteAddr: "127.0.0.1:1"}
		var sent uint64
		for i := 0; i < 100; i++ {
			for _, topic := range []string{"loop", "a", "b"} {
				if res := authz(h, c, topic, 0); res.Verdict != hooks.Allow {
					t.Fatalf("authorize %s = %v, want allow", topic, res.Verdict)
				}
				sent++
			}
			if st, _ := h.Plugin("acl").Shadow(); st.Dropped > 0 {
				break
			}
		}
		st := settled(t, h, "acl", sent)
		if st.Dropped == 0 || st.Agreed+st.Errors+st.Dropped != sent || st.Disagreed != 0 {
			t.Errorf("stats %+v after %d events; want drops, and every event accounted for", st, sent)
		}
	})
}

// On-publish and transform events are compared too: the action, and the
// transform's output byte for byte; the message goes on as the serving
// plugin left it.
func TestShadowComparesMessageHooks(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		rules := testPlugin(t, "rules")
		h, _ := startHost(t, shadowed(engine, rules, `{"suffix": "|v1", "reject": ["bad/"]}`, rules, `{"suffix": "|v2", "reject": ["bad/", "worse/"]}`))
		ctx := context.Background()
		c := &hooks.Client{ID: "c", RemoteAddr: "127.0.0.1:1"}
		for _, topic := range []string{"ok", "bad/x", "worse/x"} {
			m := &packets.Publish{Topic: topic, Payload: []byte("p")}
			res, err := h.Chain().OnPublish(ctx, c, m)
			if want := map[string]hooks.PublishAction{"bad/x": hooks.Reject}[topic]; err != nil || res.Action != want {
				t.Fatalf("on-publish %s = %+v, %v; want %v", topic, res, err, want)
			}
		}
		m := &packets.Publish{Topic: "t", Payload: []byte("p")}
		if err := h.Chain().Transform(ctx, c, m); err != nil || string(m.Payload) != "p|v1" {
			t.Fatalf("transform: %q, %v; want the serving p|v1", m.Payload, err)
		}
		st := settled(t, h, "acl", 4)
		if st.Agreed != 2 || st.Disagreed != 2 || st.ByKind["action"] != 1 || st.ByKind["output"] != 1 {
			t.Errorf("stats %+v; want ok and bad/x agreed, worse/x (action) and the transform (output) not", st)
		}
	})
}

// Reload adds, changes and removes a shadow without touching the serving
// plugin; a candidate that fails to load leaves the serving plugin serving.
func TestShadowComesAndGoesWithReload(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		rules := testPlugin(t, "rules")
		cfg := one(engine, "acl", rules)
		cfg.Plugins[0].Config = ConfigBytes(`{"deny": ["secret/"]}`)
		h, _ := startHost(t, cfg)
		serving := h.Plugin("acl").cur.Load()
		ctx := context.Background()
		c := &hooks.Client{ID: "c", RemoteAddr: "127.0.0.1:1"}

		with := shadowed(engine, rules, `{"deny": ["secret/"]}`, rules, `{"deny": []}`)
		if err := h.Reload(ctx, with); err != nil {
			t.Fatal(err)
		}
		if h.Plugin("acl").cur.Load() != serving {
			t.Error("adding a shadow reloaded the serving plugin")
		}
		if res := authz(h, c, "secret/x", 0); res.Verdict != hooks.Deny {
			t.Fatalf("secret/x = %v with a shadow, want the serving deny", res.Verdict)
		}
		if st := settled(t, h, "acl", 1); st.ByKind["verdict"] != 1 {
			t.Errorf("stats %+v, want one verdict disagreement", st)
		}

		bad := shadowed(engine, rules, `{"deny": ["secret/"]}`, rules, `{"deny": 7}`) // init refuses it
		if err := h.Reload(ctx, bad); err == nil {
			t.Error("a candidate whose init fails reloaded without an error")
		}
		if res := authz(h, c, "secret/x", 0); res.Verdict != hooks.Deny {
			t.Fatalf("secret/x = %v after a bad candidate, want deny", res.Verdict)
		}
		if st := settled(t, h, "acl", 2); st.ByKind["verdict"] != 2 {
			t.Errorf("stats %+v: the candidate loaded before should still be compared", st)
		}

		if err := h.Reload(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, ok := h.Plugin("acl").Shadow(); ok || h.Plugin("acl/shadow") != nil {
			t.Error("the shadow is still there after the config dropped it")
		}
		if res := authz(h, c, "secret/x", 0); res.Verdict != hooks.Deny {
			t.Fatalf("secret/x = %v without a shadow, want deny", res.Verdict)
		}
	})
}

// A shadow takes the keys of a chain entry that say which plugin and how,
// and refuses those that make no sense for a candidate, naming the key.
func TestShadowConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		shadow ShadowConfig
		name2  string
		want   string
	}{
		{ShadowConfig{PluginConfig: PluginConfig{Name: "x", Path: "b.wasm"}}, "", "chain[0].shadow.name"},
		{ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm", OnError: OnError{Auth: FailOpen}}}, "", "chain[0].shadow.on_error"},
		{ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm", Shadow: &ShadowConfig{}}}, "", "chain[0].shadow.shadow"},
		{ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm"}, Queue: -1}, "", "chain[0].shadow.queue"},
		{ShadowConfig{}, "", "chain[0].shadow.path: required"},
		{ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm", PoolSize: -2}}, "", "chain[0].shadow.pool_size"},
		{ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm"}}, "acl/shadow", `chain[1].name: "acl/shadow" is used twice`},
	} {
		cfg := Config{Plugins: []PluginConfig{{Name: "acl", Path: "a.wasm", Shadow: &tc.shadow}}}
		if tc.name2 != "" {
			cfg.Plugins = append(cfg.Plugins, PluginConfig{Name: tc.name2, Path: "c.wasm"})
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.shadow, err, tc.want)
		}
	}
	ok := Config{Plugins: []PluginConfig{{Name: "acl", Path: "a.wasm", Shadow: &ShadowConfig{PluginConfig: PluginConfig{Path: "b.wasm"}, Queue: 10}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a valid shadow: %v", err)
	}
}

// An enhanced-auth exchange continues in the candidate as in the serving
// plugin: the steps arrive in order, on the same client, whose state the
// candidate kept from the first step.
func TestShadowFollowsAnEnhancedAuthExchange(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		rules := testPlugin(t, "rules")
		h, _ := startHost(t, shadowed(engine, rules, "", rules, ""))
		ctx := context.Background()
		for i := range 3 {
			c := &hooks.Client{ID: "scram", RemoteAddr: "127.0.0.1:1", Handle: uint64(100 + i)}
			res, err := h.Chain().Authenticate(ctx, &hooks.AuthRequest{Client: c, Method: "STATE"})
			if err != nil || !res.Continue {
				t.Fatalf("first step: %+v, %v; want continue", res, err)
			}
			res, err = h.Chain().Authenticate(ctx, &hooks.AuthRequest{Client: c, Step: hooks.AuthContinue, Method: "STATE", Data: []byte("r")})
			if err != nil || res.Verdict != hooks.Allow {
				t.Fatalf("second step: %+v, %v; want allow", res, err)
			}
			h.Chain().OnDisconnect(ctx, c, 0)
		}
		if st := settled(t, h, "acl", 6); st.Agreed != 6 || st.Disagreed != 0 {
			t.Errorf("stats %+v; want both steps of three exchanges agreed", st)
		}
	})
}
