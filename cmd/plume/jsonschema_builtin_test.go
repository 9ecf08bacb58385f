package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// The json-schema built-in in a real broker reads a schema from the file a
// rule names (rules[].schema_file, a file key nested in a list), by a path
// relative to the config file's folder; an MQTT 5.0 publisher of an invalid
// payload gets 0x99. A change to the schema file reloads the plugin: the
// payload valid before is then refused.
func TestJSONSchemaBuiltinReadsItsSchemaFileAndReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "schemas", "temp.json")
	if err := os.Mkdir(filepath.Dir(schema), 0o700); err != nil {
		t.Fatal(err)
	}
	writeSchema := func(maximum int) {
		t.Helper()
		tmp := schema + ".new"
		doc := `{"type": "object", "required": ["c"], "properties": {"c": {"type": "number", "maximum": ` + strconv.Itoa(maximum) + `}}}`
		if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, schema); err != nil {
			t.Fatal(err)
		}
	}
	writeSchema(100)
	srv, _ := startFromYAML(t, dir, `listeners: [{name: a, address: '127.0.0.1:0'}]
allow_anonymous: true
plugins:
  cache_dir: cache   # a reload then reuses the compiled module
  chain:
    - name: schemas
      builtin: json-schema
      call_timeout: 10s  # generous: the tests share two cores with others
      config:
        rules:
          - {filter: "other/#", schema: {type: object}}
          - {filter: "sensors/+/temp", schema_file: schemas/temp.json}
`)
	c := connectV5(t, srv.listeners[0].Address())
	pub := func(payload string) (byte, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Publish(ctx, &paho.Publish{Topic: "sensors/a/temp", QoS: 1, Payload: []byte(payload)})
		if res == nil {
			t.Fatalf("publish %s: %v", payload, err)
		}
		why := ""
		if res.Properties != nil {
			why = res.Properties.ReasonString
		}
		return res.ReasonCode, why
	}
	if code, why := pub(`{"c": 50}`); code >= 0x80 { // 0x10: no subscribers, a success
		t.Fatalf("valid payload: PUBACK %#x %q, want success", code, why)
	}
	if code, why := pub(`{"c": 121}`); code != 0x99 || !strings.Contains(why, "121 is above maximum 100") {
		t.Fatalf("invalid payload: PUBACK %#x %q, want 0x99 naming the maximum", code, why)
	}

	writeSchema(40)
	// Generous: a reload instantiates the module anew and compiles the
	// schemas; under the race detector on two loaded cores that has taken
	// tens of seconds.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, why := pub(`{"c": 50}`)
		if code == 0x99 {
			if !strings.Contains(why, "50 is above maximum 40") {
				t.Fatalf("after the change: PUBACK %#x %q, want the new maximum named", code, why)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUBACK still %#x %q 2 min after the schema file changed, want 0x99", code, why)
		}
		time.Sleep(20 * time.Millisecond) // polling for the reload's effect, no verdict rests on the interval
	}
}
