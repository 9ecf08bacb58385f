// Package passwd reads and writes password hashes and password files in
// Mosquitto's format, plus argon2id. It is shared by the password-file
// plugin (plugins/password-file, built for wasip1) and by `plume passwd`
// (cmd/plume), so that what one writes the other reads; it imports nothing
// but the standard library and golang.org/x/crypto, which both build for
// every GOOS, wasip1 included (docs/decisions/0024-password-file.md).
//
// The formats, as Mosquitto 2.0 defines them (src/password_mosq.c,
// src/security_default.c):
//
//	$6$SALT$HASH              SHA-512(password || salt)
//	$7$ITERATIONS$SALT$HASH   PBKDF2-HMAC-SHA512(password, salt, ITERATIONS), 64 bytes
//
// with SALT 12 bytes and HASH 64 bytes, both standard base64 with padding.
// And the PHC string format for argon2id (the reference implementation's
// encoding: unpadded standard base64):
//
//	$argon2id$v=19$m=MEMORY_KIB,t=TIME,p=THREADS$SALT$HASH
package passwd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Kind is a hash format.
type Kind int

// The formats.
const (
	// SHA512 is Mosquitto's $6$: one round of salted SHA-512. Fast to
	// verify and as fast to brute-force; read for compatibility, written
	// only on request.
	SHA512 Kind = iota + 1
	// PBKDF2 is Mosquitto's $7$, what mosquitto_passwd 2.0 writes.
	PBKDF2
	// Argon2id is what plume passwd writes by default.
	Argon2id
)

// String is the name `plume passwd -H` takes.
func (k Kind) String() string {
	switch k {
	case SHA512:
		return "sha512"
	case PBKDF2:
		return "sha512-pbkdf2"
	case Argon2id:
		return "argon2id"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{SHA512, PBKDF2, Argon2id} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown hash type %q (argon2id, sha512-pbkdf2 or sha512)", s)
}

// Lengths Mosquitto requires: it refuses any other salt or hash length.
const (
	mosquittoSaltLen = 12
	mosquittoHashLen = sha512.Size
	argon2SaltLen    = 16
	argon2KeyLen     = 32
)

// DefaultIterations is mosquitto_passwd's PBKDF2 iteration count
// (PW_DEFAULT_ITERATIONS): low, but what Mosquitto users' files hold.
const DefaultIterations = 101

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is what plume passwd writes: chosen so that one
// verification fits the plugin host's default limits (100 ms per call,
// 64 MiB per instance) four times over, inside Wasm where argon2 runs
// several times slower than natively; OWASP's m=19 MiB, t=2 takes longer
// than the deadline there. Decision 0024 has the measurements.
var DefaultArgon2 = Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}

// Hash is a parsed password hash.
type Hash struct {
	Kind       Kind
	Iterations int          // PBKDF2 only
	Argon2     Argon2Params // Argon2id only
	Salt       []byte
	Sum        []byte
}

// ErrFormat is wrapped by every error of Parse.
var ErrFormat = errors.New("not a password hash")

// Parse reads an encoded hash ($6$, $7$ or $argon2id$).
func Parse(s string) (Hash, error) {
	switch {
	case strings.HasPrefix(s, "$6$"):
		salt, sum, err := mosquittoParts(strings.Split(s[3:], "$"))
		return Hash{Kind: SHA512, Salt: salt, Sum: sum}, err
	case strings.HasPrefix(s, "$7$"):
		parts := strings.Split(s[3:], "$")
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 1 {
			return Hash{}, fmt.Errorf("%w: $7$ iterations %q: want a positive integer", ErrFormat, parts[0])
		}
		salt, sum, err := mosquittoParts(parts[1:])
		return Hash{Kind: PBKDF2, Iterations: n, Salt: salt, Sum: sum}, err
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$argon2"):
		return Hash{}, fmt.Errorf("%w: only argon2id is accepted, not %s", ErrFormat, strings.SplitN(s, "$", 3)[1])
	}
	return Hash{}, fmt.Errorf("%w: want $7$, $6$ or $argon2id$", ErrFormat)
}

// mosquittoParts decodes SALT and HASH of $6$ and $7$.
func mosquittoParts(parts []string) (salt, sum []byte, err error) {
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%w: want SALT$HASH after the type", ErrFormat)
	}
	salt, err = base64.StdEncoding.Strict().DecodeString(parts[0])
	if err != nil || len(salt) != mosquittoSaltLen {
		return nil, nil, fmt.Errorf("%w: salt: want %d bytes in base64", ErrFormat, mosquittoSaltLen)
	}
	sum, err = base64.StdEncoding.Strict().DecodeString(parts[1])
	if err != nil || len(sum) != mosquittoHashLen {
		return nil, nil, fmt.Errorf("%w: hash: want %d bytes in base64", ErrFormat, mosquittoHashLen)
	}
	return salt, sum, nil
}

func parseArgon2id(s string) (Hash, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return Hash{}, fmt.Errorf("%w: want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH", ErrFormat)
	}
	if parts[2] != "v=19" {
		return Hash{}, fmt.Errorf("%w: argon2id version %q: want v=19", ErrFormat, parts[2])
	}
	var p Argon2Params
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, threads) != parts[3] {
		return Hash{}, fmt.Errorf("%w: argon2id parameters %q: want m=M,t=T,p=P", ErrFormat, parts[3])
	}
	if p.Time < 1 || threads < 1 || threads > 255 || p.MemoryKiB < 8*threads {
		return Hash{}, fmt.Errorf("%w: argon2id parameters %q out of range", ErrFormat, parts[3])
	}
	p.Threads = uint8(threads)
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Hash{}, fmt.Errorf("%w: argon2id salt: want 8 or more bytes in unpadded base64", ErrFormat)
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(sum) < 16 {
		return Hash{}, fmt.Errorf("%w: argon2id hash: want 16 or more bytes in unpadded base64", ErrFormat)
	}
	return Hash{Kind: Argon2id, Argon2: p, Salt: salt, Sum: sum}, nil
}

// String encodes h as Parse reads it.
func (h Hash) String() string {
	b64 := base64.StdEncoding.EncodeToString
	switch h.Kind {
	case SHA512:
		return "$6$" + b64(h.Salt) + "$" + b64(h.Sum)
	case PBKDF2:
		return "$7$" + strconv.Itoa(h.Iterations) + "$" + b64(h.Salt) + "$" + b64(h.Sum)
	case Argon2id:
		raw := base64.RawStdEncoding.EncodeToString
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s",
			h.Argon2.MemoryKiB, h.Argon2.Time, h.Argon2.Threads, raw(h.Salt), raw(h.Sum))
	}
	return ""
}

// derive computes the hash of password with h's kind, parameters and salt.
func (h Hash) derive(password []byte) []byte {
	switch h.Kind {
	case SHA512:
		d := sha512.New()
		d.Write(password)
		d.Write(h.Salt)
		return d.Sum(nil)
	case PBKDF2:
		// pbkdf2.Key fails only for a key length out of range or in FIPS
		// 140-3 mode with a short password or salt; either way no match.
		sum, err := pbkdf2.Key(sha512.New, string(password), h.Salt, h.Iterations, len(h.Sum))
		if err != nil {
			return nil
		}
		return sum
	case Argon2id:
		return argon2.IDKey(password, h.Salt, h.Argon2.Time, h.Argon2.MemoryKiB, h.Argon2.Threads, uint32(len(h.Sum)))
	}
	return nil
}

// Verify reports whether password hashes to h. The comparison takes the
// same time wherever the sums differ.
func (h Hash) Verify(password []byte) bool {
	got := h.derive(password)
	return len(got) == len(h.Sum) && subtle.ConstantTimeCompare(got, h.Sum) == 1
}

// Decoy returns a hash of h's kind and cost that no password matches (its
// sum is all zeros, whose preimage nobody knows), for verifying an unknown
// user's password as long as a known user's takes.
func (h Hash) Decoy() Hash {
	d := h
	d.Salt = make([]byte, len(h.Salt))
	d.Sum = make([]byte, len(h.Sum))
	return d
}

// New hashes password as kind with a fresh random salt: iterations for
// PBKDF2 (DefaultIterations if 0), p for Argon2id.
func New(kind Kind, password []byte, iterations int, p Argon2Params) (Hash, error) {
	h := Hash{Kind: kind}
	switch kind {
	case SHA512:
		h.Salt, h.Sum = make([]byte, mosquittoSaltLen), make([]byte, mosquittoHashLen)
	case PBKDF2:
		if iterations == 0 {
			iterations = DefaultIterations
		}
		if iterations < 1 {
			return Hash{}, fmt.Errorf("iterations %d: must be positive", iterations)
		}
		h.Iterations = iterations
		h.Salt, h.Sum = make([]byte, mosquittoSaltLen), make([]byte, mosquittoHashLen)
	case Argon2id:
		if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) {
			return Hash{}, fmt.Errorf("argon2id parameters %+v out of range", p)
		}
		h.Argon2 = p
		h.Salt, h.Sum = make([]byte, argon2SaltLen), make([]byte, argon2KeyLen)
	default:
		return Hash{}, fmt.Errorf("unknown hash kind %d", kind)
	}
	if _, err := rand.Read(h.Salt); err != nil {
		return Hash{}, fmt.Errorf("salt: %w", err)
	}
	h.Sum = h.derive(password)
	return h, nil
}
