package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/plumemq/plume/plugins/passwd"
)

const passwdUsage = `usage:
  plume passwd [-H TYPE] [-c] FILE USER            set USER's password, prompted twice without echo
  plume passwd [-H TYPE] [-c] -b FILE USER PASSWORD set it from the command line (batch)
  plume passwd -D FILE USER                         delete USER
  plume passwd [-H TYPE] -U FILE                    hash a file of user:password lines in place
  -c creates FILE, or overwrites it with USER alone. The file is the
  password-file plugin's and Mosquitto's format (plugins/password-file).
  TYPE: argon2id (default), sha512-pbkdf2 (Mosquitto's $7$, for files
  Mosquitto reads too) or sha512 (Mosquitto's $6$, weak; compatibility only).
flags:
`

// passwdCmd is `plume passwd`: mosquitto_passwd's jobs on a password file.
type passwdCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// runPasswd runs `plume passwd` with stdin as the terminal or pipe that
// passwords are read from.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("plume passwd", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, passwdUsage); fl.PrintDefaults() }
	create := fl.Bool("c", false, "create FILE (overwriting it) with USER alone")
	batch := fl.Bool("b", false, "take the password from the command line")
	del := fl.Bool("D", false, "delete USER")
	update := fl.Bool("U", false, "hash every password of a plain-text file in place")
	kindName := fl.String("H", passwd.Argon2id.String(), "hash type: argon2id, sha512-pbkdf2 or sha512")
	iterations := fl.Int("I", passwd.DefaultIterations, "sha512-pbkdf2 iterations")
	memory := fl.Uint("m", uint(passwd.DefaultArgon2.MemoryKiB), "argon2id memory in KiB (the plugin refuses over its max_argon2_memory_kib, default 19456)")
	time := fl.Uint("t", uint(passwd.DefaultArgon2.Time), "argon2id passes")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	kind, err := passwd.ParseKind(*kindName)
	if err != nil {
		fmt.Fprintln(stderr, "plume passwd: -H:", err)
		return 2
	}
	if *memory > 1<<32-1 || *time < 1 || *time > 1<<32-1 {
		fmt.Fprintln(stderr, "plume passwd: -m or -t out of range")
		return 2
	}
	hasher := hasher{kind: kind, iterations: *iterations,
		argon2: passwd.Argon2Params{MemoryKiB: uint32(*memory), Time: uint32(*time), Threads: 1}}
	c := passwdCmd{stdin: stdin, stdout: stdout, stderr: stderr}
	n := fl.NArg()
	modes := 0
	for _, on := range []bool{*create, *del, *update} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		err = errors.New("-c, -D and -U go alone")
	case *del && *batch:
		err = errors.New("-b and -D cannot go together")
	case *update && n == 1 && !*batch:
		err = c.update(fl.Arg(0), hasher)
	case *del && n == 2:
		err = c.delete(fl.Arg(0), fl.Arg(1))
	case !*update && !*del && *batch && n == 3:
		err = c.set(fl.Arg(0), fl.Arg(1), []byte(fl.Arg(2)), *create, hasher)
	case !*update && !*del && !*batch && n == 2:
		var pw []byte
		if pw, err = c.prompt(); err == nil {
			err = c.set(fl.Arg(0), fl.Arg(1), pw, *create, hasher)
		}
	default:
		fl.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "plume passwd:", err)
		return 1
	}
	return 0
}

// hasher is the hash type and cost that the flags chose.
type hasher struct {
	kind       passwd.Kind
	iterations int
	argon2     passwd.Argon2Params
}

func (h hasher) hash(password []byte) (string, error) {
	x, err := passwd.New(h.kind, password, h.iterations, h.argon2)
	if err != nil {
		return "", err
	}
	return x.String(), nil
}

// prompt reads the password twice: from a terminal without echo, or, from
// a pipe, as two lines (for scripts and tests).
func (c passwdCmd) prompt() ([]byte, error) {
	var read func() ([]byte, error)
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read = func() ([]byte, error) {
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.stderr)
			return b, err
		}
	} else {
		r := bufio.NewReader(c.stdin)
		read = func() ([]byte, error) {
			line, err := r.ReadString('\n')
			if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
				return nil, fmt.Errorf("reading the password: %w", err)
			}
			return []byte(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")), nil
		}
	}
	fmt.Fprint(c.stderr, "Password: ")
	first, err := read()
	if err != nil {
		return nil, err
	}
	fmt.Fprint(c.stderr, "Reenter password: ")
	second, err := read()
	if err != nil {
		return nil, err
	}
	if string(first) != string(second) {
		return nil, errors.New("passwords do not match; nothing written")
	}
	return first, nil
}

// set gives user password's hash in file: a new file with -c.
func (c passwdCmd) set(file, user string, password []byte, create bool, h hasher) error {
	if err := passwd.CheckUser(user); err != nil {
		return err
	}
	if len(password) == 0 {
		return errors.New("empty password; nothing written")
	}
	f, _ := passwd.ParseFile(nil)
	if !create {
		var err error
		if f, err = readPasswordFile(file); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (-c creates it)", err)
		} else if err != nil {
			return err
		}
	}
	enc, err := h.hash(password)
	if err != nil {
		return err
	}
	f.Set(user, enc)
	return writeAtomic(file, f.Bytes())
}

func (c passwdCmd) delete(file, user string) error {
	f, err := readPasswordFile(file)
	if err != nil {
		return err
	}
	if !f.Delete(user) {
		return fmt.Errorf("user %q not in %s; nothing written", user, file)
	}
	return writeAtomic(file, f.Bytes())
}

// update hashes a plain-text file's passwords. A field that already reads
// as a hash makes the whole file ambiguous (hashing it would lock its user
// out), so nothing is written; mosquitto_passwd 2.0 hashes it regardless.
func (c passwdCmd) update(file string, h hasher) error {
	f, err := readPasswordFile(file)
	if err != nil {
		return err
	}
	entries := f.Entries()
	for _, e := range entries {
		if _, err := passwd.Parse(e.Field); err == nil || strings.HasPrefix(e.Field, "$6$") ||
			strings.HasPrefix(e.Field, "$7$") || strings.HasPrefix(e.Field, "$argon2") {
			return fmt.Errorf("%s: line %d: user %q already holds a hash: -U hashes a file of plain-text passwords only; nothing written",
				file, e.Line, e.User)
		}
	}
	for _, e := range entries {
		enc, err := h.hash([]byte(e.Field))
		if err != nil {
			return err
		}
		f.Set(e.User, enc)
	}
	return writeAtomic(file, f.Bytes())
}

func readPasswordFile(file string) (*passwd.File, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f, err := passwd.ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return f, nil
}
