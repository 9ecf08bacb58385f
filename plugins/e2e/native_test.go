package e2e

import (
	"os"
	"os/exec"
	"testing"
)

// The standard plugins are modules of their own (built for wasip1), which
// `go test ./...` from the repository root does not enter: their native unit
// tests run from here.
func TestStandardPluginsUnitTests(t *testing.T) {
	for _, dir := range []string{rateLimitDir, jsonSchemaDir} {
		cmd := exec.Command("go", "test", "-count=1", "./...")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go test in %s: %v\n%s", dir, err, out)
		}
	}
}
