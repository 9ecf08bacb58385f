package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/ops/audit"
)

// The audit section parses with sizes in binary units, its file is
// relative to the config's folder, and its errors name the key and line.
func TestAuditSectionParsesAndItsFileIsRelativeToTheConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plume.yaml")
	yaml := "audit:\n  file: logs/audit.log\n  max_size: 10MiB\n  max_files: 3\n  events: [connect, auth_failure]\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Audit
	if a == nil || a.File != filepath.Join(dir, "logs/audit.log") || a.MaxSize != 10<<20 || a.MaxFiles != 3 ||
		len(a.Events) != 2 || a.Events[1] != audit.ClassAuthFailure {
		t.Fatalf("audit = %+v", a)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"audit:\n  max_files: 3\n", "audit.file"},
		{"log:\n  level: info\naudit:\n  log: true\n  events: [connect, conect]\n", "line 5: audit.events[1]"},
		{"audit:\n  file: a.log\n  max_sise: 1MiB\n", "line 3"},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
}
