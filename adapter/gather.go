package adapter

import (
	"fmt"
	"strings"
	"time"
)

// Default gather timeouts, used when GatherOptions leaves them 0.
const (
	DefaultFirstTimeout      = 5 * time.Second
	DefaultInterDigitTimeout = 5 * time.Second
)

// Collector applies a Gather's rules to keys as a driver receives them: the
// digit bounds, the terminator, and which timeout runs next. Every driver
// uses it, so Gather means the same on every switch.
type Collector struct {
	opt        GatherOptions
	got        []byte
	terminated bool
}

// NewCollector checks opt's digit bounds and terminator and fills the
// default timeouts.
func NewCollector(opt GatherOptions) (*Collector, error) {
	if opt.MaxDigits < 1 || opt.MinDigits < 0 || opt.MinDigits > opt.MaxDigits {
		return nil, fmt.Errorf("bad digit bounds min %d max %d", opt.MinDigits, opt.MaxDigits)
	}
	if strings.Trim(opt.Terminator, "0123456789*#ABCD") != "" {
		return nil, fmt.Errorf("terminator %q: want DTMF keys", opt.Terminator)
	}
	if opt.FirstTimeout <= 0 {
		opt.FirstTimeout = DefaultFirstTimeout
	}
	if opt.InterDigitTimeout <= 0 {
		opt.InterDigitTimeout = DefaultInterDigitTimeout
	}
	return &Collector{opt: opt}, nil
}

// Add takes one key and reports whether collection is complete: the
// terminator was pressed (it is not collected) or MaxDigits is reached. An
// empty key is ignored.
func (c *Collector) Add(key string) (done bool) {
	if key == "" {
		return false
	}
	if c.opt.Terminator != "" && strings.Contains(c.opt.Terminator, key) {
		c.terminated = true
		return true
	}
	c.got = append(c.got, key...)
	return len(c.got) >= c.opt.MaxDigits
}

// End names why a complete collection ended: "terminator" or "max".
func (c *Collector) End() string {
	if c.terminated {
		return "terminator"
	}
	return "max"
}

// Short reports fewer digits than MinDigits.
func (c *Collector) Short() bool { return len(c.got) < c.opt.MinDigits }

// Digits are the keys collected so far.
func (c *Collector) Digits() string { return string(c.got) }

// Timeout is the wait for the next key: the first-digit timeout until a
// key came, then the inter-digit timeout.
func (c *Collector) Timeout() time.Duration {
	if len(c.got) == 0 {
		return c.opt.FirstTimeout
	}
	return c.opt.InterDigitTimeout
}

// TimeoutReason names how a gather ended by timeout, for logs and traces.
func (c *Collector) TimeoutReason() string {
	if len(c.got) == 0 {
		return "timeout"
	}
	return "inter-digit timeout"
}
