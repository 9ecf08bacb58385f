package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugincall"
	"github.com/plumemq/plume/host/scaffold"
)

const pluginUsage = `usage:
  plume plugin new --lang go|rust NAME [--dir DIR]
      scaffold a plugin project that builds and passes its own test
  plume plugin call FILE.wasm --event JSON [--config FILE] [--files KEY,...] [--timeout D]
      load a built plugin without a broker and make one call; the event is
      {"point": "authenticate"|"authorize"|"on-publish"|"transform", "client": {...}, ...}
      (see host/plugincall/event.go); the answer is printed as JSON. --files
      names the config keys whose values are data files the plugin reads
      (as a chain entry's files:), relative to the --config file's folder
  plume plugin promote NAME --config FILE [--keep-old]
      make the shadow of chain entry NAME serve in its place, by editing FILE
      (comments kept); a running plume watching FILE reloads it
`

// runPlugin is `plume plugin ...`: tools for plugin authors.
func runPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "new":
		return pluginNew(args[1:], stdout, stderr)
	case "call":
		return pluginCall(args[1:], stdout, stderr)
	case "promote":
		return pluginPromote(args[1:], stdout, stderr)
	}
	return unknownIn(stderr, "plume plugin", args[0], []string{"new", "call", "promote"}, pluginUsage)
}

func pluginNew(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plume plugin new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "go", "go or rust")
	dir := fs.String("dir", "", "where to create the project (default: ./NAME)")
	if err := fs.Parse(reorder(args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	name := fs.Arg(0)
	if *dir == "" {
		*dir = name
	}
	if err := scaffold.New(*lang, name, *dir); err != nil {
		fmt.Fprintln(stderr, "plume plugin new:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created %s plugin %q in %s (see its README.md)\n", *lang, name, *dir)
	return 0
}

func pluginCall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plume plugin call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	event := fs.String("event", "", "the call, as JSON")
	configFile := fs.String("config", "", "file whose bytes are the plugin's config")
	timeout := fs.Duration("timeout", 0, "per-call deadline (default: the host's)")
	files := fs.String("files", "", "comma-separated config keys that name data files (a chain entry's files:)")
	if err := fs.Parse(reorder(args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *event == "" {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	ev, err := plugincall.ParseEvent([]byte(*event))
	if err != nil {
		fmt.Fprintln(stderr, "plume plugin call:", err) // it says "event: ..."
		return 2
	}
	opts := plugincall.Options{CallTimeout: *timeout}
	if *configFile != "" {
		if opts.Config, err = os.ReadFile(*configFile); err != nil {
			fmt.Fprintln(stderr, "plume plugin call:", err)
			return 2
		}
	}
	if *files != "" {
		// Resolved as the broker resolves a chain entry's files: relative to
		// the folder of the file that holds the config.
		pc := host.PluginConfig{Files: strings.Split(*files, ","), Config: opts.Config}
		if err := pc.ResolveFiles(filepath.Dir(*configFile)); err != nil {
			fmt.Fprintln(stderr, "plume plugin call: --files:", err)
			return 2
		}
		opts.Files, opts.Config = pc.Files, pc.Config
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := plugincall.Open(ctx, fs.Arg(0), opts)
	if err != nil {
		fmt.Fprintln(stderr, "plume plugin call:", err)
		return 1
	}
	defer p.Close()
	res, err := p.Call(ctx, ev)
	if logs := p.Logs(); logs != "" {
		fmt.Fprint(stderr, logs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "plume plugin call:", err)
		return 1
	}
	out, _ := json.MarshalIndent(readable(res), "", "  ")
	fmt.Fprintln(stdout, string(out))
	return 0
}

// readable spells verdicts and reason codes as words.
func readable(res any) any {
	switch r := res.(type) {
	case hooks.AuthResult:
		m := map[string]any{"verdict": r.Verdict.String()}
		if r.Verdict == hooks.Deny || r.Reason != 0 {
			m["reason"] = fmt.Sprintf("%#02x %s", byte(r.Reason), r.Reason)
		}
		if r.ReasonString != "" {
			m["reason_string"] = r.ReasonString
		}
		if r.Continue {
			m["continue"] = true
		}
		if r.Data != nil {
			m["data"] = string(r.Data)
		}
		if len(r.Attributes) > 0 {
			m["attributes"] = r.Attributes
		}
		return m
	case hooks.AuthzResult:
		m := map[string]any{"verdict": r.Verdict.String()}
		if r.Verdict == hooks.Deny || r.Reason != 0 {
			m["reason"] = fmt.Sprintf("%#02x %s", byte(r.Reason), r.Reason)
		}
		if r.ReasonString != "" {
			m["reason_string"] = r.ReasonString // what the broker sends the client in its PUBACK or SUBACK
		}
		if r.LowerQoS {
			m["max_qos"] = r.QoS
		}
		return m
	case hooks.PublishResult:
		m := map[string]any{"action": [...]string{"continue", "drop", "reject"}[r.Action]}
		if r.Action == hooks.Reject {
			m["reason"] = fmt.Sprintf("%#02x %s", byte(r.Reason), r.Reason)
		}
		if r.ReasonString != "" {
			m["reason_string"] = r.ReasonString
		}
		return m
	}
	return res
}

// reorder moves flags before positional arguments, so that
// `plume plugin call x.wasm --event ...` parses as users type it.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}
