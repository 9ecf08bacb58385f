package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a number of bytes written as a plain integer or with a binary
// unit: 65536, 512KiB, 64MiB, 1GiB. A negative number means "no bound" where
// the key's comment says so.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}} // B last: every other unit ends in it

// UnmarshalYAML parses an integer with an optional KiB, MiB, GiB or TiB suffix.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	s, shift := strings.TrimSpace(n.Value), uint(0)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(num), u.shift
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > (1<<63-1)>>shift || v < -(1<<63)>>shift {
		return fmt.Errorf("line %d: %q is not a size like 1048576, 512KiB or 64MiB", n.Line, n.Value)
	}
	*b = ByteSize(v << shift)
	return nil
}
