package e2e

import (
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
)

const jsonSchemaDir = repoRoot + "/plugins/json-schema"

func jsonSchema(t testing.TB) string { return plugintest.BuildGo(t, jsonSchemaDir, ".") }

const jsonSchemaConfig = `{"rules": [
	{"filter": "sensors/+/temp", "schema": {"type": "object", "required": ["c"], "properties": {"c": {"type": "number", "maximum": 100}}}},
	{"filter": "orders/#", "schema": {"type": "object", "required": ["id"]}, "on_invalid": "dead_letter", "dead_letter_topic": "dlq/{topic}"}
]}`

func TestJSONSchemaThroughHost(t *testing.T) {
	p := plugintest.Load(t, jsonSchema(t), plugintest.Options{Config: []byte(jsonSchemaConfig)})
	if !p.Provides(hooks.PointOnPublish) || !p.Provides(hooks.PointTransform) || p.Provides(hooks.PointAuthorize) {
		t.Fatal("json-schema should provide on-publish (reject) and transform (dead letter)")
	}
	c := &hooks.Client{ID: "c", ProtocolVersion: 5}
	text := "text/plain"
	for _, tc := range []struct {
		topic, payload string
		contentType    *string
		want           hooks.PublishAction
		why            string
	}{
		{"sensors/a/temp", `{"c": 21}`, nil, hooks.Continue, ""},
		{"sensors/a/temp", `{"c": 121}`, nil, hooks.Reject, "schema: /c: 121 is above maximum 100"},
		{"sensors/a/temp", `{"c": `, nil, hooks.Reject, "schema: not JSON"},
		{"sensors/a/temp", `hello`, &text, hooks.Continue, ""}, // not JSON by its content type: skipped
		{"sensors/a/hum", `nonsense`, nil, hooks.Continue, ""}, // no rule
		{"orders/1", `{}`, nil, hooks.Continue, ""},            // dead-lettered by transform, not refused
	} {
		m := &packets.Publish{Topic: tc.topic, Payload: []byte(tc.payload)}
		if tc.contentType != nil {
			m.Properties.ContentType = *tc.contentType
			m.Properties.Set(packets.PropContentType)
		}
		res, err := p.OnPublish(c, m)
		if err != nil || res.Action != tc.want || (tc.why != "" && !strings.HasPrefix(res.ReasonString, tc.why)) {
			t.Errorf("%s %s: %+v %v, want %v %q", tc.topic, tc.payload, res, err, tc.want, tc.why)
		}
		if res.Action == hooks.Reject && res.Reason != packets.PayloadFormatInvalid {
			t.Errorf("%s %s: reason %v, want 0x99", tc.topic, tc.payload, res.Reason)
		}
	}
	out, err := p.Transform(c, &packets.Publish{Topic: "orders/eu/7", Payload: []byte(`{"n": 1}`)})
	if err != nil || out.Topic != "dlq/orders/eu/7" {
		t.Fatalf("invalid order: %+v %v, want it moved to dlq/orders/eu/7", out, err)
	}
	props := map[string]string{}
	for _, up := range out.Properties.User {
		props[up.Key] = up.Value
	}
	if props["original-topic"] != "orders/eu/7" || props["schema-error"] != `required property "id" is missing` {
		t.Fatalf("user properties %v", props)
	}
	if out, err := p.Transform(c, &packets.Publish{Topic: "orders/eu/8", Payload: []byte(`{"id": 8}`)}); err != nil || out.Topic != "orders/eu/8" {
		t.Fatalf("valid order: %+v %v, want it left alone", out, err)
	}
}

func TestJSONSchemaRefusesUnsupportedKeywordAtInit(t *testing.T) {
	_, err := plugintest.Open(t.Context(), jsonSchema(t), plugintest.Options{
		Config: []byte(`{"rules": [{"filter": "a", "schema": {"properties": {"x": {"$dynamicRef": "#n"}}}}]}`)})
	if err == nil || !strings.Contains(err.Error(), `rules[0].schema: /properties/x/$dynamicRef: keyword "$dynamicRef" is not supported`) {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONSchemaThroughBroker(t *testing.T) {
	e := start(t, host.Config{Plugins: []host.PluginConfig{plugin("schema", jsonSchema(t), jsonSchemaConfig)}},
		broker.Options{AllowAnonymous: true})
	watch := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "js-watch"})
	watch.subscribe(t, "sensors/#", "orders/#", "dlq/#")
	pub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "js-pub"})

	reason, why := pub.publish1(t, "sensors/k/temp", []byte(`{"c": "warm"}`))
	if reason != byte(packets.PayloadFormatInvalid) || why != "schema: /c: a string is not of type number" {
		t.Fatalf("invalid reading: PUBACK %#x %q, want 0x99 and the cause", reason, why)
	}
	if reason, why := pub.publish1(t, "sensors/k/temp", []byte(`{"c": 20}`)); reason >= 0x80 {
		t.Fatalf("valid reading: PUBACK %#x %q", reason, why)
	}
	if m := watch.next(t); m.Topic != "sensors/k/temp" || string(m.Payload) != `{"c": 20}` {
		t.Fatalf("watcher got %s %q, want the valid reading only", m.Topic, m.Payload)
	}
	if reason, why := pub.publish1(t, "orders/42", []byte(`{"total": 3}`)); reason >= 0x80 {
		t.Fatalf("invalid order (dead-lettered, so accepted): PUBACK %#x %q", reason, why)
	}
	m := watch.next(t)
	if m.Topic != "dlq/orders/42" || string(m.Payload) != `{"total": 3}` {
		t.Fatalf("watcher got %s %q, want the order on dlq/orders/42", m.Topic, m.Payload)
	}
	if m.Properties == nil || m.Properties.User.Get("schema-error") != `required property "id" is missing` ||
		m.Properties.User.Get("original-topic") != "orders/42" {
		t.Fatalf("dead letter's properties %+v", m.Properties)
	}
}

// BenchmarkJSONSchemaValidate1KiB is on-publish through the host with a
// 1 KiB payload validated against a schema of a dozen keywords.
func BenchmarkJSONSchemaValidate1KiB(b *testing.B) {
	p, err := plugintest.Open(b.Context(), jsonSchema(b), plugintest.Options{Config: []byte(`{"rules": [{"filter": "bench/#", "schema": {
		"type": "object", "required": ["id", "readings"],
		"properties": {
			"id": {"type": "string", "pattern": "^dev-[0-9]+$"},
			"site": {"enum": ["north", "south", "east", "west"]},
			"readings": {"type": "array", "maxItems": 100, "items": {"type": "object", "required": ["t", "v"],
				"properties": {"t": {"type": "integer", "minimum": 0}, "v": {"type": "number", "minimum": -100, "maximum": 100}},
				"additionalProperties": false}}
		}}}]}`)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var sb strings.Builder
	sb.WriteString(`{"id": "dev-17", "site": "north", "readings": [`)
	for i := 0; sb.Len() < 1000; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(`{"t": 1700000000, "v": 21.5}`)
	}
	sb.WriteString("]}")
	payload := []byte(sb.String())
	c := &hooks.Client{ID: "bench", ProtocolVersion: 5, Handle: 1}
	m := &packets.Publish{Topic: "bench/x", Payload: payload}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if res, err := p.OnPublish(c, m); err != nil || res.Action != hooks.Continue {
			b.Fatal(res, err)
		}
	}
}
