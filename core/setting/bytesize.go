package setting

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes that a config file writes as a plain integer
// or with a binary unit: 65536, 512KiB, 64MiB, 1GiB, 100B. A negative number
// means "no bound" where the field's comment says so.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}} // B last: every other unit ends in it

// UnmarshalText parses an integer with an optional B, KiB, MiB, GiB or TiB
// suffix. The decimal units (MB, GB) are refused rather than guessed at.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s, shift := strings.TrimSpace(string(text)), uint(0)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(num), u.shift
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > (1<<63-1)>>shift || v < -(1<<63)>>shift {
		return fmt.Errorf("%q is not a size like 1048576, 512KiB or 64MiB", text)
	}
	*b = ByteSize(v << shift)
	return nil
}
