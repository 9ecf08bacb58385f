package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// command is one subcommand of plume, as `plume --help` lists it.
type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
	// help prints the command's own usage, for `plume help NAME`.
	help func(w io.Writer)
}

// commands is every subcommand, in the order help lists them. run is the
// default: `plume --config F` is `plume run --config F`.
func commands() []command {
	return []command{
		{name: "run", args: "[flags]", summary: "serve MQTT (the default when no command is given)",
			help: func(w io.Writer) { run([]string{"--help"}, w, w) }},
		{name: "check", args: "--config FILE", summary: "validate a config without starting: every error, one per line",
			run: runCheck, help: func(w io.Writer) { fmt.Fprint(w, checkUsage) }},
		{name: "plugin", args: "new|call|promote ...", summary: "scaffold a Wasm plugin, call a built one without a broker, promote a shadow",
			run: runPlugin, help: func(w io.Writer) { fmt.Fprint(w, pluginUsage) }},
		{name: "passwd", args: "[-c|-b|-D|-U] FILE USER", summary: "manage a password file (builtin: password-file), like mosquitto_passwd",
			run:  func(args []string, stdout, stderr io.Writer) int { return runPasswd(args, os.Stdin, stdout, stderr) },
			help: func(w io.Writer) { runPasswd([]string{"-h"}, nil, w, w) }},
		{name: "conformance", args: "--broker URL", summary: "run the MQTT conformance suite against any broker",
			run: runConformance, help: func(w io.Writer) { runConformance([]string{"-h"}, w, w) }},
		{name: "version", summary: "print the version, the Go toolchain and the main modules",
			run: runVersion, help: func(w io.Writer) { fmt.Fprintln(w, "usage: plume version (or plume --version)") }},
		{name: "help", args: "[COMMAND]", summary: "this text, or a command's own",
			run: runHelp, help: func(w io.Writer) { fmt.Fprintln(w, "usage: plume help [COMMAND]") }},
	}
}

// subcommand runs the subcommand args name, if any. It returns the broker's
// arguments (run's: args without a leading "run") and done false when the
// broker is to start.
func subcommand(args []string, stdout, stderr io.Writer) (brokerArgs []string, code int, done bool) {
	if len(args) == 0 {
		return args, 0, false
	}
	switch args[0] {
	case "run":
		return args[1:], 0, false
	case "--version", "-version":
		return nil, runVersion(args[1:], stdout, stderr), true
	}
	if strings.HasPrefix(args[0], "-") {
		return args, 0, false // the broker's flags; --help among them
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			return nil, c.run(args[1:], stdout, stderr), true
		}
	}
	return nil, unknown(stderr, "command", args[0], commandNames()), true
}

// commandNames is every subcommand's name.
func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// unknown reports a name that is not one of known, with the nearest as a
// suggestion, and returns the usage-error exit status.
func unknown(stderr io.Writer, what, name string, known []string) int {
	msg := fmt.Sprintf("plume: unknown %s %q", what, name)
	if what == "flag" {
		name = strings.TrimLeft(name, "-")
		msg = fmt.Sprintf("plume: unknown flag --%s", name)
	}
	if s := suggest(name, known); s != "" {
		if what == "flag" {
			s = "--" + s
		}
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	fmt.Fprintf(stderr, "%s\nrun 'plume help' for the commands and flags\n", msg)
	return 2
}

// unknownIn reports an unknown subcommand name of the command cmd (plume
// plugin), with a suggestion, then cmd's usage.
func unknownIn(stderr io.Writer, cmd, name string, known []string, usage string) int {
	msg := fmt.Sprintf("%s: unknown command %q", cmd, name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	fmt.Fprintf(stderr, "%s\n%s", msg, usage)
	return 2
}

// suggest is the name of known nearest to name, within two edits (or a
// prefix of it), or "".
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		d := config.EditDistance(name, k)
		if len(name) >= 2 && strings.HasPrefix(k, name) && d > 1 {
			d = 1 // "plume conf" means conformance
		}
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// runHelp is `plume help [COMMAND]`.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return run([]string{"--help"}, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			c.help(stdout)
			return 0
		}
	}
	return unknown(stderr, "command", args[0], commandNames())
}

// parseBrokerFlags parses run's flags. --help prints the whole usage to
// stdout (exit 0); an unknown flag or a stray word is named, with a
// suggestion (exit 2). ok false means: return code.
func parseBrokerFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard) // the errors are worded here
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout, fs)
		return 0, false
	case err != nil:
		var flags []string
		fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f.Name) })
		if name, found := strings.CutPrefix(err.Error(), "flag provided but not defined: "); found {
			return unknown(stderr, "flag", name, flags), false
		}
		fmt.Fprintf(stderr, "plume: %v\nrun 'plume help' for the commands and flags\n", err)
		return 2, false
	case fs.NArg() > 0:
		return unknown(stderr, "command", fs.Arg(0), commandNames()), false
	}
	return 0, true
}

// usage is `plume --help`: the commands, then run's flags, one line each.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Plume, an MQTT broker whose policy runs as Wasm plugins.\n\nusage: plume [COMMAND] [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-36s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, "\nflags of run (the default command):\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		if name == "string" {
			name = "VALUE"
			if p, ok := placeholders[f.Name]; ok {
				name = p
			}
		}
		fmt.Fprintf(w, "  %-36s %s\n", strings.TrimSpace("--"+f.Name+" "+name), help)
	})
	fmt.Fprint(w, "  --version                            print the version and exit\n  -h, --help                           this text\n")
	fmt.Fprint(w, "\n'plume help COMMAND' shows a command's own flags; examples/plume.yaml is an annotated config.\n")
}

// placeholders name the values of run's flags in its usage.
var placeholders = map[string]string{
	"config": "FILE", "listen": "ADDR", "ops": "ADDR", "pprof": "ADDR", "http": "ADDR",
	"data-dir": "DIR", "log-level": "LEVEL", "log-format": "FORMAT",
}

// shownModules are the dependencies `plume version` names: the ones whose
// version changes what the broker does (engines, store, config parsing).
var shownModules = []string{
	"github.com/tetratelabs/wazero", "github.com/bytecodealliance/wasmtime-go",
	"github.com/cockroachdb/pebble", "gopkg.in/yaml.v3", "github.com/rs/zerolog",
}

// runVersion is `plume version` and `plume --version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return unknown(stderr, "argument to version", args[0], nil)
	}
	v, revision := version, ""
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				revision = " (" + s.Value[:12] + ")"
			}
		}
	}
	fmt.Fprintf(stdout, "plume %s%s\n%s %s/%s\n", v, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if !ok {
		return 0
	}
	var lines []string
	for _, d := range info.Deps {
		for _, m := range shownModules {
			if strings.HasPrefix(d.Path, m) {
				lines = append(lines, fmt.Sprintf("%s %s", d.Path, d.Version))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return 0
}
