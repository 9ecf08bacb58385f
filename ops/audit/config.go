package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/plumemq/plume/core/setting"
)

// Config is the `audit:` section of plume.yaml. The section absent means no
// audit log; present, it names exactly one destination.
type Config struct {
	// File is the path of the audit log: JSON lines, opened for appending.
	// The binary resolves a relative path against the config file's folder.
	File string `yaml:"file"`
	// MaxSize is the size at which File is rotated (default 100MiB).
	MaxSize setting.ByteSize `yaml:"max_size"`
	// MaxFiles is how many rotated files are kept beside File: File.1 (the
	// newest) to File.MaxFiles; the oldest is deleted (default 10).
	MaxFiles int `yaml:"max_files"`
	// Log writes the events to the main log instead, at info with
	// "audit": true.
	Log bool `yaml:"log"`
	// Events are the classes recorded; empty records them all.
	Events []Class `yaml:"events"`
}

// Defaults of Config.
const (
	DefaultMaxSize  = 100 << 20
	DefaultMaxFiles = 10
)

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	return c
}

// Validate reports the first setting the audit log cannot run with, as a
// *setting.Error naming its key relative to the section.
func (c *Config) Validate() error {
	switch {
	case c.File == "" && !c.Log:
		return setting.Errorf("file", "an audit log needs a destination: file: PATH, or log: true")
	case c.File != "" && c.Log:
		return setting.Errorf("log", "choose one destination: file or log, not both")
	case c.MaxSize < 0:
		return setting.Errorf("max_size", "must not be negative (use 0 for the default, 100MiB)")
	case c.MaxSize > 0 && c.MaxSize < 4096:
		return setting.Errorf("max_size", "%d bytes would rotate at almost every line; use at least 4KiB", c.MaxSize)
	case c.MaxFiles < 0:
		return setting.Errorf("max_files", "must not be negative (use 0 for the default, %d)", DefaultMaxFiles)
	}
	for i, e := range c.Events {
		if !slices.Contains(Classes, e) {
			return setting.Errorf(fmt.Sprintf("events[%d]", i), "%q is not an event class (%s)", e, classNames())
		}
	}
	return nil
}

func classNames() string {
	s := make([]string, len(Classes))
	for i, c := range Classes {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
