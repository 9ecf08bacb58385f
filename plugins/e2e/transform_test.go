package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
)

// startEnrich serves a broker whose chain is transform-rust enriching the
// topics under sensors/ (its config: one filter per line).
func startEnrich(t *testing.T) *env {
	t.Helper()
	wasm := plugintest.BuildRust(t, transformRustDir) // skips without a Rust toolchain
	cfg := host.Config{Plugins: []host.PluginConfig{plugin("enrich", wasm, "sensors/#\n")}}
	return start(t, cfg, broker.Options{AllowAnonymous: true})
}

// enriched matches the plugin's output for the payload {"t": 21.5} exactly:
// the client id and the receive time in milliseconds go first, the rest of
// the object follows byte for byte.
func enriched(clientID string) *regexp.Regexp {
	return regexp.MustCompile(`^\{"client_id":"` + regexp.QuoteMeta(clientID) + `","received_at":([0-9]+),"t": 21\.5\}$`)
}

// checkReceivedAt checks the plugin's receive time lies between the publish
// and its acknowledgement (milliseconds, so widened by one each side).
func checkReceivedAt(t *testing.T, ms string, before, after time.Time) {
	t.Helper()
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		t.Fatalf("received_at %q: %v", ms, err)
	}
	if v < before.UnixMilli()-1 || v > after.UnixMilli()+1 {
		t.Errorf("received_at %d outside the publish window [%d, %d]", v, before.UnixMilli(), after.UnixMilli())
	}
}

func TestTransformRustEnrichesForV5Subscriber(t *testing.T) {
	e := startEnrich(t)
	sub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "sink"})
	sub.subscribe(t, "sensors/#", "other/#")
	pub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "dev-7"})

	before := time.Now()
	if reason, why := pub.publish1(t, "sensors/t", []byte(`{"t": 21.5}`)); reason != 0 {
		t.Fatalf("PUBACK %#x %q", reason, why)
	}
	after := time.Now()
	m := sub.next(t)
	match := enriched("dev-7").FindStringSubmatch(string(m.Payload))
	if m.Topic != "sensors/t" || match == nil {
		t.Fatalf("got %s %q, want sensors/t with the enriched object", m.Topic, m.Payload)
	}
	checkReceivedAt(t, match[1], before, after)
	if m.Properties == nil || m.Properties.ContentType != "application/json" {
		t.Errorf("content type = %+v, want application/json set by the plugin", m.Properties)
	}

	// What the plugin leaves alone arrives as sent: a JSON array on an
	// enriched topic, and an object on a topic outside its filter.
	for _, tc := range []struct{ topic, payload string }{
		{"sensors/t", `[1,2]`},
		{"other/t", `{"t": 21.5}`},
	} {
		if reason, why := pub.publish1(t, tc.topic, []byte(tc.payload)); reason != 0 {
			t.Fatalf("PUBACK %#x %q", reason, why)
		}
		m := sub.next(t)
		if m.Topic != tc.topic || string(m.Payload) != tc.payload {
			t.Errorf("got %s %q, want %s %q unchanged", m.Topic, m.Payload, tc.topic, tc.payload)
		}
		if m.Properties != nil && m.Properties.ContentType != "" {
			t.Errorf("%s %s: content type %q set on an untouched message", tc.topic, tc.payload, m.Properties.ContentType)
		}
	}
}

// A 3.1.1 publisher is enriched the same way, and a 3.1.1 subscriber gets
// the plugin's payload (it has no properties to carry the content type).
func TestTransformRustEnrichesAcrossProtocolVersions(t *testing.T) {
	e := startEnrich(t)
	got311 := make(chan mqtt.Message, 4)
	sub311, _, err := connectV311(t, e.addr, "sink-311", "", "", func(_ mqtt.Client, m mqtt.Message) { got311 <- m })
	if err != nil {
		t.Fatal(err)
	}
	if tok := sub311.Subscribe("sensors/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("3.1.1 subscribe: %v", tok.Error())
	}
	sub5 := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "sink-5"})
	sub5.subscribe(t, "sensors/#")

	pub311, _, err := connectV311(t, e.addr, "dev-311", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if tok := pub311.Publish("sensors/t", 1, false, []byte(`{"t": 21.5}`)); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("3.1.1 publish: %v", tok.Error())
	}
	after := time.Now()

	want := enriched("dev-311")
	m5 := sub5.next(t)
	match := want.FindStringSubmatch(string(m5.Payload))
	if match == nil {
		t.Fatalf("5.0 subscriber got %q, want the enriched object", m5.Payload)
	}
	checkReceivedAt(t, match[1], before, after)
	if m5.Properties == nil || m5.Properties.ContentType != "application/json" {
		t.Errorf("5.0 subscriber: content type = %+v, want application/json", m5.Properties)
	}
	select {
	case m := <-got311:
		if string(m.Payload()) != string(m5.Payload) || m.Topic() != "sensors/t" {
			t.Errorf("3.1.1 subscriber got %s %q, want %q as the 5.0 subscriber", m.Topic(), m.Payload(), m5.Payload)
		}
	case <-time.After(wait):
		t.Fatal("3.1.1 subscriber received nothing")
	}
}
