package config

// ReleasedOutput configures what the gate keeps of a released command's
// output (see mpa.Output).
type ReleasedOutput struct {
	// MaxBytes is how much of one command's output is kept; past it the
	// first and last halves are. Default 1 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Bounds of output.max_bytes.
const (
	DefaultOutputMaxBytes = 1 << 20
	MaxOutputMaxBytes     = 64 << 20
)

// OutputMaxBytes is output.max_bytes, or its default.
func (c *Config) OutputMaxBytes() int64 {
	if c.Output.MaxBytes == 0 {
		return DefaultOutputMaxBytes
	}
	return c.Output.MaxBytes
}

func (v *validator) checkOutput(c *Config) {
	if n := c.Output.MaxBytes; n < 0 || n > MaxOutputMaxBytes {
		v.errorf(v.at("output.max_bytes"), "output.max_bytes: want 0 (the default, %d) to %d bytes, got %d", DefaultOutputMaxBytes, MaxOutputMaxBytes, n)
	}
}
