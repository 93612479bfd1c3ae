package config

import (
	"strings"
	"testing"
)

// TestZeroClockSkewIsRefused: validation said
// max_clock_skew "must be between 0 and 8784h0m0s", so 0 is accepted, but
// a zero field takes the default (orElse, and normalize's "<= 0 means
// 24h"): an operator who writes max_clock_skew: 0s (server-side events,
// whose ts may never lie ahead of arrival) silently gets 24h.
func TestZeroClockSkewIsRefused(t *testing.T) {
	c, err := Parse("c.yaml", []byte("apps:\n  - app_id: a\n    max_clock_skew: 0s\n"))
	if err != nil {
		if !strings.Contains(err.Error(), "c.yaml:3: apps[0].max_clock_skew: must be more than 0") {
			t.Fatalf("refused, but not for the skew: %v", err)
		}
		return
	}
	if got := c.WindowsFor("a").MaxClockSkew.D(); got != 0 {
		t.Fatalf("max_clock_skew: 0s accepted and read as %s", got)
	}
}
