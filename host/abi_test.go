package host

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

func probeHost(t *testing.T, engine string) (*Host, *Plugin) {
	t.Helper()
	cfg := one(engine, "probe", testPlugin(t, "probe"))
	cfg.Plugins[0].Config = []byte("probe-config")
	h, _ := startHost(t, cfg)
	return h, h.Plugin("probe")
}

func TestAuthenticateSeesClientAndAttachesAttributes(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		c := &hooks.Client{
			ID: "dev-1", Username: "alice", ProtocolVersion: 5,
			RemoteAddr: "10.0.0.7:5000", Listener: "tls",
			Creds: &hooks.Credentials{Password: []byte("alice-pw"), CertSubject: "CN=dev-1",
				CertSANs: []string{"DNS:dev-1.fleet", "URI:spiffe://fleet/dev-1"}, CertFingerprint: "ab12",
				UserProperties: []packets.UserProperty{{Key: "fw", Value: "1.2"}}},
		}
		res, err := p.Authenticate(ctx, &hooks.AuthRequest{Client: c})
		if err != nil || res.Verdict != hooks.Allow {
			t.Fatalf("alice: %+v, %v; want allow", res, err)
		}
		want := map[string]string{"role": "user", "seen": "dev-1|10.0.0.7:5000|tls|CN=dev-1|DNS=dev-1.fleet;URI=spiffe://fleet/dev-1;|ab12|5|fw=1.2;"}
		if len(res.Attributes) != 2 || res.Attributes["role"] != want["role"] || res.Attributes["seen"] != want["seen"] {
			t.Errorf("attributes = %v, want %v", res.Attributes, want)
		}

		c.Creds.Password = []byte("wrong")
		res, err = p.Authenticate(ctx, &hooks.AuthRequest{Client: c})
		if err != nil || res.Verdict != hooks.Deny || res.Reason != packets.BadUserNameOrPassword || res.ReasonString != "bad password for alice" {
			t.Errorf("wrong password: %+v, %v; want deny 0x86 with reason string", res, err)
		}

		res, err = p.Authenticate(ctx, &hooks.AuthRequest{Client: &hooks.Client{ID: "anon"}})
		if err != nil || res.Verdict != hooks.Pass {
			t.Errorf("anonymous: %+v, %v; want pass", res, err)
		}
	})
}

func TestEnhancedAuthenticationContinues(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		c := &hooks.Client{ID: "m", Username: "multi", ProtocolVersion: 5}
		res, err := p.Authenticate(ctx, &hooks.AuthRequest{Client: c, Method: "SCRAM"})
		if err != nil || !res.Continue || string(res.Data) != "challenge:SCRAM" {
			t.Fatalf("first step: %+v, %v; want continue with challenge", res, err)
		}
		res, err = p.Authenticate(ctx, &hooks.AuthRequest{Client: c, Step: hooks.AuthContinue, Method: "SCRAM", Data: []byte("response")})
		if err != nil || res.Verdict != hooks.Allow {
			t.Errorf("second step: %+v, %v; want allow", res, err)
		}
	})
}

func TestAuthorizeVerdictsQoSAndState(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		alice := &hooks.Client{ID: "a", Attributes: map[string]string{"role": "admin"}}
		bob := &hooks.Client{ID: "b"}
		authz := func(c *hooks.Client, action hooks.Action, topic string) hooks.AuthzResult {
			t.Helper()
			res, err := p.Authorize(ctx, &hooks.AuthzRequest{Client: c, Action: action, Topic: topic, QoS: 2})
			if err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			return res
		}
		for _, tc := range []struct {
			client  *hooks.Client
			action  hooks.Action
			topic   string
			verdict hooks.Verdict
			reason  string
			lower   bool
			qos     byte
		}{
			{alice, hooks.ActionPublish, "forbidden/x", hooks.Deny, "no access to forbidden/x", false, 0},
			{alice, hooks.ActionPublish, "slow/x", hooks.Pass, "", true, 0},
			{alice, hooks.ActionSubscribe, "any/+", hooks.Allow, "", true, 1},
			{alice, hooks.ActionPublish, "any", hooks.Allow, "", false, 0},
			{alice, hooks.ActionPublish, "role/admin", hooks.Allow, "", false, 0},
			{bob, hooks.ActionPublish, "role/admin", hooks.Deny, "role mismatch", false, 0},
			{alice, hooks.ActionPublish, "config", hooks.Deny, "probe-config", false, 0},
			{alice, hooks.ActionPublish, "count/1", hooks.Deny, "1", false, 0},
			{bob, hooks.ActionPublish, "count/2", hooks.Deny, "2", false, 0}, // shared by instances and clients
			{alice, hooks.ActionPublish, "kv/get", hooks.Deny, "false", false, 0},
			{alice, hooks.ActionPublish, "kv/set", hooks.Allow, "", false, 0},
			{bob, hooks.ActionPublish, "kv/get", hooks.Deny, "v1true", false, 0},
			{alice, hooks.ActionPublish, "state/get", hooks.Deny, "", false, 0},
			{alice, hooks.ActionPublish, "state/set", hooks.Allow, "", false, 0},
			{alice, hooks.ActionPublish, "state/get", hooks.Deny, "remembered", false, 0},
			{bob, hooks.ActionPublish, "state/get", hooks.Deny, "", false, 0}, // per client
		} {
			res := authz(tc.client, tc.action, tc.topic)
			if res.Verdict != tc.verdict || res.ReasonString != tc.reason || res.LowerQoS != tc.lower || res.QoS != tc.qos {
				t.Errorf("%s %s: %+v; want %v %q lower=%v qos=%d", tc.client.ID, tc.topic, res, tc.verdict, tc.reason, tc.lower, tc.qos)
			}
		}
		// Only an answer the plugin marks CACHE may be reused by the broker.
		if res := authz(alice, hooks.ActionPublish, "cached/x"); res.Verdict != hooks.Allow || !res.Cache {
			t.Errorf("cached/x: %+v, want a cacheable allow", res)
		}
		if res := authz(alice, hooks.ActionPublish, "any"); res.Cache {
			t.Errorf("any: %+v, want an answer not marked cacheable", res)
		}
		// Disconnecting drops the client's state.
		p.OnDisconnect(ctx, alice, packets.Success)
		if res := authz(alice, hooks.ActionPublish, "state/get"); res.ReasonString != "" {
			t.Errorf("state after disconnect = %q, want none", res.ReasonString)
		}
	})
}

func TestOnPublishOutcomesAndFilters(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		c := &hooks.Client{ID: "pub"}
		for _, tc := range []struct {
			topic  string
			action hooks.PublishAction
			reason packets.ReasonCode
			why    string
		}{
			{"msg/ok", hooks.Continue, 0, ""},
			{"msg/drop", hooks.Drop, 0, ""},
			{"msg/reject", hooks.Reject, packets.PayloadFormatInvalid, "rejected body"},
			{"elsewhere/msg/drop", hooks.Continue, 0, ""}, // outside the filters: not called
		} {
			res, err := p.OnPublish(ctx, c, &packets.Publish{Topic: tc.topic, Payload: []byte("body")})
			if err != nil || res.Action != tc.action || res.Reason != tc.reason || res.ReasonString != tc.why {
				t.Errorf("%s: %+v, %v; want %v %v %q", tc.topic, res, err, tc.action, tc.reason, tc.why)
			}
		}
	})
}

func TestTransformRewritesWithoutTouchingTheOriginal(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		c := &hooks.Client{ID: "tx"}
		payload := []byte("hello")
		props := []packets.UserProperty{{Key: "a", Value: "1"}}
		m := &packets.Publish{Topic: "msg/t", Payload: payload, QoS: 1, Properties: packets.Properties{User: props}}
		m.Properties.ContentType = "text/raw"
		m.Properties.Set(packets.PropContentType)
		if err := p.Transform(ctx, c, m); err != nil {
			t.Fatal(err)
		}
		if m.Topic != "out/msg/t" || string(m.Payload) != "HELLO|text/raw" || m.Properties.ContentType != "text/plain" ||
			!m.Properties.Has(packets.PropContentType) || len(m.Properties.User) != 2 || m.Properties.User[1] != (packets.UserProperty{Key: "client", Value: "tx"}) {
			t.Errorf("transformed = %+v", m)
		}
		if string(payload) != "hello" || len(props) != 1 || props[0].Value != "1" {
			t.Errorf("the original slices were modified: %q %v", payload, props)
		}

		untouched := &packets.Publish{Topic: "other/a/b", Payload: []byte("x")} // "other/+" does not match two levels
		if err := p.Transform(ctx, c, untouched); err != nil || untouched.Topic != "other/a/b" {
			t.Errorf("outside the filters: %+v, %v; want untouched", untouched, err)
		}

		failing := &packets.Publish{Topic: "msg/fail", Payload: []byte("x")}
		err := p.Transform(ctx, c, failing)
		if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), "transform refused") {
			t.Errorf("failing transform: %v; want ErrPluginFailed naming the plugin's message", err)
		}
		if failing.Topic != "msg/fail" || !bytes.Equal(failing.Payload, []byte("x")) {
			t.Errorf("failed transform changed the message: %+v", failing)
		}
		if p.Traps() != 0 {
			t.Errorf("a plugin error counted as a trap")
		}
	})
}

func TestModulesOutsideABIAreRefusedNamingWhatWasFound(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		for _, tc := range []struct{ file, want string }{
			{"testdata/noabi.wasm", "exports no plume_abi_version function, so it is not a Plume plugin (its exports: [hello])"},
			{"testdata/abi7.wasm", "declares ABI version 7; this host speaks version 1"},
			{"testdata/badimport.wasm", "imports plume.open_socket, which ABI v1 does not provide"},
			{"testdata/garbage.wasm", "compile"},
			{"testdata/missing.wasm", "no such file"},
		} {
			_, err := New(context.Background(), nopLog(), one(engine, "bad", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v; want it to contain %q", tc.file, err, tc.want)
			}
		}
	})
}

func TestInitCanRefuseConfig(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "probe", testPlugin(t, "probe"))
		cfg.Plugins[0].Config = []byte("refuse")
		_, err := New(context.Background(), nopLog(), cfg)
		if err == nil || !strings.Contains(err.Error(), "plugin refused its config: config says refuse") {
			t.Fatalf("err = %v; want the plugin's refusal", err)
		}
	})
}

// A module written by hand in the text format (testdata/minimal.wat) is a
// plugin too: the ABI needs no SDK.
func TestHandWrittenModule(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, _ := startHost(t, one(engine, "minimal", "testdata/minimal.wasm"))
		p := h.Plugin("minimal")
		if !p.Provides(hooks.PointAuthorize) || p.Provides(hooks.PointTransform) {
			t.Errorf("minimal provides the wrong points")
		}
		res, err := p.Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{}, Topic: "x"})
		if err != nil || res.Verdict != hooks.Allow {
			t.Errorf("authorize: %+v, %v; want allow", res, err)
		}
	})
}

func TestCompiledModulesAreCachedOnDisk(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		cfg := one(engine, "empty", testPlugin(t, "empty"))
		cfg.CacheDir = dir
		startHost(t, cfg)
		entries, err := listFiles(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("cache dir holds %v (%v); want compiled code", entries, err)
		}
		// A restart finds the module in the cache and compiles nothing new.
		startHost(t, cfg)
		again, err := listFiles(dir)
		if err != nil || len(again) != len(entries) {
			t.Errorf("after a restart the cache holds %d files (%v), want the same %d", len(again), err, len(entries))
		}
	})
}

func TestLifecycleNotifications(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "probe", testPlugin(t, "probe"))
		h, logs := startHost(t, cfg)
		p := h.Plugin("probe")
		if !p.Provides(hooks.PointLifecycle) {
			t.Fatal("probe exports on_connect/on_disconnect but does not provide lifecycle")
		}
		c := &hooks.Client{ID: "life-1", RemoteAddr: "10.1.1.1:9"}
		ctx := context.Background()
		h.Chain().OnConnect(ctx, c)
		h.Chain().OnDisconnect(ctx, c, packets.ServerShuttingDown)
		log := logs.String()
		for _, want := range []string{
			`"client_id":"life-1","remote":"10.1.1.1:9","message":"connected life-1"`,
			`"message":"disconnected life-1 reason 139 state from-connect"`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %s:\n%s", want, log)
			}
		}
	})
}

// A guest gets the event header either way: written by the host into memory
// it declared at init (declare_header, as the SDKs do), or pulled with
// event_get. Each call sees its own header, never the previous call's. A
// declared place outside memory, or at address 0, is refused.
func TestHeaderIsWrittenWhereDeclaredOrPulled(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		for _, mode := range []string{"P", "L"} {
			cfg := one(engine, "header", "testdata/header.wasm")
			cfg.Plugins[0].Config = []byte(mode)
			cfg.Plugins[0].PoolSize = 1 // every call on the same instance
			h, _ := startHost(t, cfg)
			p := h.Plugin("header")
			for i, tc := range []struct {
				topic string
				qos   byte
			}{{"a", 2}, {"abc/def", 1}, {"abc", 0}, {"x/y/z/w", 2}} {
				res, err := p.Authorize(context.Background(), &hooks.AuthzRequest{
					Client: &hooks.Client{ID: "c"}, Topic: tc.topic, QoS: tc.qos,
				})
				if err != nil || res.Verdict != hooks.Allow || int(res.Reason) != len(tc.topic) || !res.LowerQoS || res.QoS != tc.qos {
					t.Errorf("mode %s, call %d: %+v, %v; want the header of topic %q (len %d) and QoS %d",
						mode, i, res, err, tc.topic, len(tc.topic), tc.qos)
				}
			}
		}
		for _, mode := range []string{"B", "Z"} {
			cfg := one(engine, "header", "testdata/header.wasm")
			cfg.Plugins[0].Config = []byte(mode)
			_, err := New(context.Background(), nopLog(), cfg)
			if err == nil || !strings.Contains(err.Error(), "plugin refused its config: code -3") {
				t.Errorf("mode %s: err = %v; want declare_header's BAD_MEMORY as the refusal", mode, err)
			}
		}
	})
}

// A payload reaches a guest and comes back whole whatever its size: through
// the declare_payload buffer when it fits (both SDKs declare 4 KiB), through
// event_get and result_set when it does not, and at the boundary between.
func TestPayloadRoundTripsAtEverySize(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		for _, pl := range []struct{ name, path, suffix string }{
			{"go", testPlugin(t, "tagged", "-X=main.tag=go"), "|go"},
			{"rust", rustPlugin(t, "suffix"), "|rust"},
		} {
			h, _ := startHost(t, one(engine, pl.name, pl.path))
			p := h.Plugin(pl.name)
			for _, n := range []int{0, 1, 64, 4096 - len(pl.suffix), 4096 - len(pl.suffix) + 1, 4096, 4097, 70000} {
				in := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
				m := &packets.Publish{Topic: "t", Payload: in}
				if err := p.Transform(context.Background(), &hooks.Client{ID: "c"}, m); err != nil {
					t.Fatalf("%s, %d bytes: %v", pl.name, n, err)
				}
				if want := append(bytes.Clone(in), pl.suffix...); !bytes.Equal(m.Payload, want) {
					t.Errorf("%s, %d bytes: got %d bytes %.20q..., want %d bytes", pl.name, n, len(m.Payload), m.Payload, len(want))
				}
			}
		}
	})
}
