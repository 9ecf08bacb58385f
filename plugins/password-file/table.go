package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/passwd"
)

// Config is the plugin's config (README.md, Syntax).
type Config struct {
	// File is the password file's path.
	File string `json:"file"`
	// MaxArgon2MemoryKiB refuses argon2id entries that need more memory
	// than this per verification: such an entry would exhaust the
	// instance's memory at each CONNECT, so it is refused at load instead.
	MaxArgon2MemoryKiB uint32 `json:"max_argon2_memory_kib"`
}

// defaultMaxArgon2MemoryKiB is OWASP's m=19 MiB: the Go runtime's heap
// grows to twice m, which stays under the 48 MiB at which the host
// recycles an instance of the default 64 MiB (decision 0024).
const defaultMaxArgon2MemoryKiB = 19 * 1024

func parseConfig(raw []byte) (Config, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("password-file config: %w", err)
	}
	if c.File == "" {
		return c, errors.New("password-file config: file: required (the password file's path)")
	}
	if c.MaxArgon2MemoryKiB == 0 {
		c.MaxArgon2MemoryKiB = defaultMaxArgon2MemoryKiB
	}
	return c, nil
}

// table is a loaded password file.
type table struct {
	users map[string]passwd.Hash
	// decoy is verified for a user not in the file, so that an unknown
	// user costs what a known one does: the answer's timing does not tell
	// which names exist.
	decoy passwd.Hash
	// warm is the decoy of the entry needing the most memory, verified
	// once at init.
	warm passwd.Hash
}

// load reads and checks the whole file; an error names the file and line.
func load(c Config) (*table, error) {
	data, err := os.ReadFile(c.File)
	if err != nil {
		return nil, fmt.Errorf("password-file: %w", err)
	}
	t, err := parse(data, c.MaxArgon2MemoryKiB)
	if err != nil {
		return nil, fmt.Errorf("password-file: %s: %w", c.File, err)
	}
	return t, nil
}

func parse(data []byte, maxArgon2KiB uint32) (*table, error) {
	f, err := passwd.ParseFile(data)
	if err != nil {
		return nil, err
	}
	t := &table{users: map[string]passwd.Hash{}}
	type shape struct {
		kind passwd.Kind
		iter int
		a2   passwd.Argon2Params
		salt int
		sum  int
	}
	count := map[shape]int{}
	var common shape
	for _, e := range f.Entries() {
		h, err := passwd.Parse(e.Field)
		if err != nil {
			return nil, fmt.Errorf("line %d: user %q: %w", e.Line, e.User, err)
		}
		if h.Kind == passwd.Argon2id && h.Argon2.MemoryKiB > maxArgon2KiB {
			return nil, fmt.Errorf("line %d: user %q: argon2id needs m=%d KiB per verification, over max_argon2_memory_kib %d",
				e.Line, e.User, h.Argon2.MemoryKiB, maxArgon2KiB)
		}
		t.users[e.User] = h
		if h.Kind == passwd.Argon2id && h.Argon2.MemoryKiB > t.warm.Argon2.MemoryKiB {
			t.warm = h.Decoy()
		}
		// The decoy takes the most common shape, so that an unknown
		// user looks like most known ones.
		s := shape{h.Kind, h.Iterations, h.Argon2, len(h.Salt), len(h.Sum)}
		count[s]++
		if count[s] > count[common] {
			common = s
			t.decoy = h.Decoy()
		}
	}
	if len(t.users) == 0 {
		t.decoy, _ = passwd.New(passwd.Argon2id, nil, 0, passwd.DefaultArgon2)
		t.decoy = t.decoy.Decoy()
	}
	if t.warm.Kind == 0 {
		t.warm = t.decoy
	}
	return t, nil
}

// authenticate is the plugin's decision, a plain function so that it is
// tested natively.
//
// A client without a username, or authenticating with an MQTT 5 method
// (another plugin's business), is passed on: the chain decides (a later
// plugin, deny-all, or allow_anonymous). An unknown user and a wrong
// password get the same answer, 0x86 Bad User Name or Password (3.1.1: 4),
// after the same work.
func (t *table) authenticate(method, username string, password []byte) plume.Decision {
	if method != "" || username == "" {
		return plume.Pass()
	}
	h, known := t.users[username]
	if !known {
		h = t.decoy
	}
	if !h.Verify(password) || !known {
		return plume.Deny(plume.BadUsernameOrPassword, "bad user name or password")
	}
	return plume.Allow()
}
