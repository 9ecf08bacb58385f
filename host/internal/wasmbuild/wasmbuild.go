// Package wasmbuild builds Go plugins to .wasm for tests, without go generate:
// each distinct build runs once per test process and lands in a directory that
// Cleanup removes.
package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex
	dir    string
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Go builds package pkg of the Go module in moduleDir as a WASI reactor
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) and returns the .wasm path.
// ldflags, if given, are passed to the linker (e.g. "-X=main.tag=v2").
// Identical builds are shared within the process.
func Go(tb testing.TB, moduleDir, pkg string, ldflags ...string) string {
	tb.Helper()
	p, err := GoBuild(moduleDir, pkg, ldflags...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// slot returns the build for key (made once per process) and the folder that
// builds go to.
func slot(key string) (*build, string, error) {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "plume-wasm-")
		if err != nil {
			return nil, "", err
		}
		dir = d
	}
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	return b, dir, nil
}

// GoBuild is Go for callers without a testing.TB (benchmarks' setup, tools).
func GoBuild(moduleDir, pkg string, ldflags ...string) (string, error) {
	abs, err := filepath.Abs(moduleDir)
	if err != nil {
		return "", err
	}
	key := abs + "\x00" + pkg + "\x00" + strings.Join(ldflags, " ")
	b, out, err := slot(key)
	if err != nil {
		return "", err
	}
	b.once.Do(func() {
		sum := sha256.Sum256([]byte(key))
		b.path = filepath.Join(out, filepath.Base(pkg)+"-"+hex.EncodeToString(sum[:6])+".wasm")
		args := []string{"build", "-buildmode=c-shared", "-o", b.path}
		if len(ldflags) > 0 {
			args = append(args, "-ldflags="+strings.Join(ldflags, " "))
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s in %s: %v\n%s", pkg, abs, err, msg)
		}
	})
	return b.path, b.err
}

// Cleanup removes every .wasm built by this process; call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
		builds = map[string]*build{}
	}
}
