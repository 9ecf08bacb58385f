package passwd

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mosquittoPasswd runs Debian's mosquitto_passwd in batch mode and returns
// the one line it wrote; the test skips without it.
func mosquittoPasswd(t *testing.T, args ...string) (user, field string) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed (Debian package mosquitto)")
	}
	file := filepath.Join(t.TempDir(), "passwd")
	args = append(args[:len(args)-2:len(args)-2], "-c", "-b", file, args[len(args)-2], args[len(args)-1])
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(b)
	if err != nil {
		t.Fatalf("mosquitto_passwd's file: %v\n%s", err, b)
	}
	es := f.Entries()
	if len(es) != 1 {
		t.Fatalf("mosquitto_passwd wrote %d entries:\n%s", len(es), b)
	}
	return es[0].User, es[0].Field
}

// A file written by Debian's mosquitto_passwd (2.0: $7$, PBKDF2-SHA512, 101
// iterations) verifies.
func TestVerifiesMosquittoPasswdPBKDF2(t *testing.T) {
	user, field := mosquittoPasswd(t, "alice", "s3cret pass")
	h, err := Parse(field)
	if err != nil {
		t.Fatal(err)
	}
	if user != "alice" || h.Kind != PBKDF2 || h.Iterations != DefaultIterations || !strings.HasPrefix(field, "$7$101$") {
		t.Fatalf("unexpected line %s:%s", user, field)
	}
	if !h.Verify([]byte("s3cret pass")) || h.Verify([]byte("s3cret pasS")) || h.Verify(nil) {
		t.Fatal("Verify disagrees with mosquitto_passwd's $7$ hash")
	}
	if h.String() != field {
		t.Fatalf("String() = %s, want %s as read", h.String(), field)
	}
}

// mosquitto_passwd -H sha512 writes $6$; it verifies.
func TestVerifiesMosquittoPasswdSHA512(t *testing.T) {
	_, field := mosquittoPasswd(t, "-H", "sha512", "bob", "hunter2")
	h, err := Parse(field)
	if err != nil || h.Kind != SHA512 {
		t.Fatalf("%s: %+v, %v", field, h, err)
	}
	if !h.Verify([]byte("hunter2")) || h.Verify([]byte("hunter3")) {
		t.Fatal("Verify disagrees with mosquitto_passwd's $6$ hash")
	}
}

// $6$ is SHA-512 over the password then the salt (pw__digest in Mosquitto's
// src/security_default.c), computed here independently of derive.
func TestSHA512IsPasswordThenSalt(t *testing.T) {
	salt := []byte("0123456789ab")
	sum := sha512.Sum512(append([]byte("pw"), salt...))
	line := "$6$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(sum[:])
	h, err := Parse(line)
	if err != nil || !h.Verify([]byte("pw")) || h.Verify([]byte("pw0")) {
		t.Fatalf("%+v, %v", h, err)
	}
}

// The reference implementation's argon2id vector (phc-winner-argon2,
// src/test.c).
func TestVerifiesArgon2idReferenceVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	h, err := Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	if h.Argon2 != (Argon2Params{MemoryKiB: 65536, Time: 2, Threads: 1}) || string(h.Salt) != "somesalt" {
		t.Fatalf("parsed %+v", h)
	}
	if !h.Verify([]byte("password")) || h.Verify([]byte("passwore")) {
		t.Fatal("Verify disagrees with the reference vector")
	}
	if h.String() != ref {
		t.Fatalf("String() = %s", h.String())
	}
}

func TestNewRoundTripsEveryKind(t *testing.T) {
	for _, k := range []Kind{SHA512, PBKDF2, Argon2id} {
		h, err := New(k, []byte("pässword"), 0, Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1})
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		again, err := Parse(h.String())
		if err != nil {
			t.Fatalf("%v: %s: %v", k, h, err)
		}
		if !again.Verify([]byte("pässword")) || again.Verify([]byte("password")) {
			t.Errorf("%v: %s does not verify as written", k, h)
		}
		other, _ := New(k, []byte("pässword"), 0, Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1})
		if other.String() == h.String() {
			t.Errorf("%v: two hashes of one password are equal: the salt is not random", k)
		}
		if d := h.Decoy(); d.Verify([]byte("pässword")) || d.Kind != h.Kind || d.Iterations != h.Iterations || d.Argon2 != h.Argon2 {
			t.Errorf("%v: decoy %+v", k, d)
		}
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %v, %v", k, got, err)
		}
	}
}

func TestParseRefusesMalformedHashes(t *testing.T) {
	good6, _ := New(SHA512, []byte("x"), 0, Argon2Params{})
	salt6, sum6, _ := strings.Cut(good6.String()[3:], "$")
	for in, want := range map[string]string{
		"plain":                        "want $7$, $6$ or $argon2id$",
		"$6$" + salt6:                  "want SALT$HASH",
		"$6$AAAA$" + sum6:              "salt: want 12 bytes",
		"$6$" + salt6 + "$AAAA":        "hash: want 64 bytes",
		"$6$" + salt6 + "$" + sum6[1:]: "hash: want 64 bytes",
		"$7$0$" + salt6 + "$" + sum6:   "iterations",
		"$7$x$" + salt6 + "$" + sum6:   "iterations",
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc":   "only argon2id",
		"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc":  "version",
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc":  "out of range",
		"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc":  "want m=M,t=T,p=P",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc": "salt",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFh":                                         "hash",
	} {
		_, err := Parse(in)
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

// The cost of one verification natively, for comparison with the same
// inside Wasm (plugins/password-file's benchmarks) in decision 0024.
func BenchmarkVerify(b *testing.B) {
	for _, k := range []Kind{SHA512, PBKDF2, Argon2id} {
		h, err := New(k, []byte("password"), 0, DefaultArgon2)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !h.Verify([]byte("password")) {
					b.Fatal("no match")
				}
			}
		})
	}
}
