package config

import (
	"strings"
	"testing"
	"time"
)

func TestAnnotatedExampleLoads(t *testing.T) {
	cfg, err := Load("../../../../examples/plume.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != "127.0.0.1:1883" {
		t.Errorf("listeners = %+v", cfg.Listeners)
	}
	if time.Duration(cfg.Limits.ConnectTimeout) != 10*time.Second {
		t.Errorf("connect_timeout = %v", time.Duration(cfg.Limits.ConnectTimeout))
	}
	if cfg.Limits.MaxQoS == nil || *cfg.Limits.MaxQoS != 2 {
		t.Errorf("max_qos = %v", cfg.Limits.MaxQoS)
	}
}

func TestParseErrorsNameTheKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "log:\n  level: info\n  colour: red\n", []string{"line 3", "colour"}},
		{"unknown top-level key", "listners: []\n", []string{"line 1", "listners"}},
		{"bad number", "limits:\n  max_inflight: lots\n", []string{"line 2", "lots"}},
		{"number too large", "limits:\n  max_inflight: 70000\n", []string{"line 2", "70000"}},
		{"bad duration", "limits:\n  connect_timeout: soon\n", []string{"line 2", "soon", "duration"}},
		{"bad qos", "limits:\n  max_qos: 3\n", []string{"line 2", "QoS"}},
		{"bad level", "log:\n  level: loud\n", []string{"log.level", "loud"}},
		{"bad listener type", "listeners:\n  - address: 127.0.0.1:1\n    type: quic\n", []string{"listeners[0].type", "quic"}},
		{"missing address", "listeners:\n  - name: a\n", []string{"listeners[0].address"}},
		{"duplicate listener", "listeners:\n  - {name: a, address: ':1'}\n  - {name: a, address: ':2'}\n", []string{"listeners[1].name", "twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil {
				t.Fatal("accepted a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	cfg, err := Parse(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listeners[0].Address != Default().Listeners[0].Address || cfg.Log.Level != "info" {
		t.Errorf("got %+v", cfg)
	}
}
