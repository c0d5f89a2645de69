package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a size in bytes, written as a number of bytes or with a
// binary unit: 65536, "64KiB", "256MiB", "1GiB".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}

// UnmarshalYAML implements [yaml.Unmarshaler].
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	bad := fmt.Errorf("want a size such as 65536, 64KiB or 256MiB, got %q", n.Value)
	if n.Kind != yaml.ScalarNode {
		return bad
	}
	s, mult := strings.TrimSpace(n.Value), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return bad
	}
	*b = ByteSize(v * mult)
	return nil
}

// Bytes returns b as a number of bytes.
func (b ByteSize) Bytes() int64 { return int64(b) }
