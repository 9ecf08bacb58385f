package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ErrNoRust reports that no Rust toolchain with the wasm32-wasi standard
// library was found.
var ErrNoRust = errors.New("no Rust toolchain with the wasm32-wasi target (apt-get install rustc cargo libstd-rust-dev-wasm32)")

// Rust builds the cdylib crate in crateDir for wasm32-wasi (release) and
// returns the .wasm path. It skips tb when no suitable toolchain exists.
func Rust(tb testing.TB, crateDir string) string {
	tb.Helper()
	p, err := RustBuild(crateDir)
	if errors.Is(err, ErrNoRust) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// RustToolchain returns the cargo to use and the environment to run it in.
// Debian's packages put a rustc with the wasm32-wasi std in /usr/bin; a
// rustup install earlier in PATH would shadow it (rustc, rustdoc) with a
// toolchain that usually lacks the target, so /usr/bin goes first in PATH
// when it has the target.
func RustToolchain() (cargo string, env []string, err error) {
	if _, err := os.Stat("/usr/lib/rustlib/wasm32-wasi"); err == nil {
		if _, err := os.Stat("/usr/bin/cargo"); err == nil {
			return "/usr/bin/cargo", []string{"PATH=/usr/bin:" + os.Getenv("PATH"), "RUSTC=/usr/bin/rustc", "RUSTDOC=/usr/bin/rustdoc"}, nil
		}
	}
	cargo, err1 := exec.LookPath("cargo")
	rustc, err2 := exec.LookPath("rustc")
	if err1 != nil || err2 != nil {
		return "", nil, ErrNoRust
	}
	out, err := exec.Command(rustc, "--print", "sysroot").Output()
	if err != nil {
		return "", nil, ErrNoRust
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", "wasm32-wasi")); err != nil {
		return "", nil, ErrNoRust
	}
	return cargo, nil, nil
}

var crateName = regexp.MustCompile(`(?m)^name\s*=\s*"([^"]+)"`)

// RustBuild is Rust for callers without a testing.TB.
func RustBuild(crateDir string) (string, error) {
	cargo, env, err := RustToolchain()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(crateDir)
	if err != nil {
		return "", err
	}
	manifest, err := os.ReadFile(filepath.Join(abs, "Cargo.toml"))
	if err != nil {
		return "", err
	}
	m := crateName.FindSubmatch(manifest)
	if m == nil {
		return "", fmt.Errorf("%s/Cargo.toml: no package name", abs)
	}
	key := "rust\x00" + abs
	b, out, err := slot(key)
	if err != nil {
		return "", err
	}
	b.once.Do(func() {
		sum := sha256.Sum256([]byte(key))
		target := filepath.Join(out, "cargo-"+hex.EncodeToString(sum[:6]))
		cmd := exec.Command(cargo, "build", "--offline", "--release", "--target", "wasm32-wasi")
		cmd.Dir = abs
		cmd.Env = append(append(os.Environ(), env...), "CARGO_TARGET_DIR="+target)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("cargo build in %s: %v\n%s", abs, err, msg)
			return
		}
		b.path = filepath.Join(target, "wasm32-wasi", "release", strings.ReplaceAll(string(m[1]), "-", "_")+".wasm")
	})
	return b.path, b.err
}
