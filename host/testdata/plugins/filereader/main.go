// Command filereader is a plugin that reads a data file named by its config,
// as the standard plugins do (password-file, acl-file): once, whole, at init,
// failing init when the file is bad. Tests of the host's data files use it.
//
// Config: {"file": PATH} and/or {"rules": [{"file": PATH}, ...]} (a file key
// nested in a list; a rule may have no file). A file's first line is its
// answer, the answers of several files are joined by commas (file first,
// then the rules'); a file whose first line is "bad" fails init, naming the
// file and the line.
//
// Authorize answers deny with the answer as reason string, except on a topic
// "open:PATH", which it answers allow if it can read PATH and deny (with the
// error) if not. Transform appends "|" and the answer to the payload.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

var answer string

func init() {
	plume.OnInit(func(config []byte) error {
		var cfg struct {
			File  string `json:"file"`
			Rules []struct {
				File string `json:"file"`
			} `json:"rules"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var files []string
		if cfg.File != "" || len(cfg.Rules) == 0 {
			files = append(files, cfg.File)
		}
		for _, r := range cfg.Rules {
			if r.File != "" {
				files = append(files, r.File)
			}
		}
		var answers []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(string(b), "\n")
			if first == "bad" {
				return fmt.Errorf("%s:1: bad line", f)
			}
			answers = append(answers, first)
		}
		answer = strings.Join(answers, ",")
		return nil
	})
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		if path, ok := strings.CutPrefix(e.Topic(), "open:"); ok {
			if _, err := os.ReadFile(path); err != nil {
				return plume.Deny(plume.NotAuthorized, err.Error())
			}
			return plume.Allow()
		}
		return plume.Deny(plume.NotAuthorized, answer)
	})
	plume.OnTransform(func(m *plume.Message) error {
		m.SetPayload(append(m.Payload(), "|"+answer...))
		return nil
	})
}

func main() {}
