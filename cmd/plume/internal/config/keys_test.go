package config

import (
	"slices"
	"strings"
	"testing"
)

func TestKeysWalksEverySectionAndStopsWhereAsked(t *testing.T) {
	keys := Keys("plugins.chain[]")
	for _, want := range []string{"log.level", "limits.max_packet_size", "sys_interval", "listeners[].address",
		"store.path", "plugins.chain[]", "allow_anonymous", "limits.max_partial_packet_bytes"} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "plugins.chain[].") {
			t.Errorf("Keys went under a stop: %q", k)
		}
	}
}

func TestChangedNamesTheKeysThatDiffer(t *testing.T) {
	a, err := Parse(strings.NewReader("listeners: [{address: 127.0.0.1:1}]\nlimits: {max_packet_size: 100}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(strings.NewReader("listeners: [{address: 127.0.0.1:2}, {address: 127.0.0.1:3}]\nlimits: {max_packet_size: 200}\nlog: {level: debug}\nstore: {path: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Changed(a, b, "")
	want := []string{"listeners[0].address", "listeners[1]", "log.level", "limits.max_packet_size", "store"}
	if !slices.Equal(got, want) {
		t.Fatalf("Changed = %q, want %q", got, want)
	}
	if got := Changed(a, a, ""); len(got) != 0 {
		t.Fatalf("Changed(a, a) = %q", got)
	}
}
