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

// ErrNoRust reports that no Rust toolchain with a WASI standard library
// (target wasm32-wasip1, or wasm32-wasi before Rust 1.78) was found.
var ErrNoRust = errors.New("no Rust toolchain with the wasm32-wasip1 or wasm32-wasi target (Debian: apt-get install rustc cargo libstd-rust-dev-wasm32; rustup: rustup target add wasm32-wasip1)")

// Rust builds the cdylib crate in crateDir for WASI preview 1 (release) and
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

// The two names of Rust's WASI preview 1 target: Rust 1.78 added
// wasm32-wasip1 and 1.84 removed wasm32-wasi; Debian's Rust 1.63 knows only
// wasm32-wasi. The first one a toolchain has the standard library of is
// used.
var wasiTargets = []string{"wasm32-wasip1", "wasm32-wasi"}

// Toolchain is a cargo that can build plugins and how to run it.
type Toolchain struct {
	Cargo  string   // the cargo to run
	Env    []string // added to its environment
	Target string   // wasm32-wasip1 or wasm32-wasi
}

// FindRust returns the toolchain to build Rust plugins with. Debian's
// packages put a rustc with the wasm32-wasi standard library in /usr/bin; a
// rustup install earlier in PATH would shadow it (rustc, rustdoc), and
// usually lacks a WASI target, so /usr/bin goes first in PATH when it has
// one. Otherwise the rustc on PATH, if its sysroot has wasm32-wasip1 or
// wasm32-wasi (rustup target add wasm32-wasip1).
func FindRust() (Toolchain, error) {
	if t := sysrootTarget("/usr"); t != "" {
		if _, err := os.Stat("/usr/bin/cargo"); err == nil {
			return Toolchain{"/usr/bin/cargo", []string{"PATH=/usr/bin:" + os.Getenv("PATH"), "RUSTC=/usr/bin/rustc", "RUSTDOC=/usr/bin/rustdoc"}, t}, nil
		}
	}
	cargo, err1 := exec.LookPath("cargo")
	rustc, err2 := exec.LookPath("rustc")
	if err1 != nil || err2 != nil {
		return Toolchain{}, ErrNoRust
	}
	out, err := exec.Command(rustc, "--print", "sysroot").Output()
	if err != nil {
		return Toolchain{}, ErrNoRust
	}
	if t := sysrootTarget(strings.TrimSpace(string(out))); t != "" {
		return Toolchain{Cargo: cargo, Target: t}, nil
	}
	return Toolchain{}, ErrNoRust
}

// sysrootTarget is the WASI target whose standard library the sysroot has.
func sysrootTarget(sysroot string) string {
	for _, t := range wasiTargets {
		if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", t)); err == nil {
			return t
		}
	}
	return ""
}

var crateName = regexp.MustCompile(`(?m)^name\s*=\s*"([^"]+)"`)

// RustBuild is Rust for callers without a testing.TB.
func RustBuild(crateDir string) (string, error) {
	tc, err := FindRust()
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
		cmd := exec.Command(tc.Cargo, "build", "--offline", "--release", "--target", tc.Target)
		cmd.Dir = abs
		cmd.Env = append(append(os.Environ(), tc.Env...), "CARGO_TARGET_DIR="+target)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("cargo build in %s: %v\n%s", abs, err, msg)
			return
		}
		b.path = filepath.Join(target, tc.Target, "release", strings.ReplaceAll(string(m[1]), "-", "_")+".wasm")
	})
	return b.path, b.err
}
