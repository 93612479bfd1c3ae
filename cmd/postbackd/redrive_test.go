package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"12h":                  now.Add(-12 * time.Hour),
		"2026-11-30T23:00:00Z": time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC),
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "yesterday", "2026-11-30"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("parseWhen(%q): no error", bad)
		}
	}
}

// TestRedriveUsage: without --config and --partner, and with a bad time,
// redrive says how to call it before touching Kafka.
func TestRedriveUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	env := &environment{stdout: &out, stderr: &errOut}
	if code := run(context.Background(), []string{"redrive", "--partner", "demo"}, env); code != 2 {
		t.Errorf("redrive without --config: exit %d, want 2", code)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"redrive", "--config", "x.yaml", "--partner", "demo", "--since", "yesterday"}, env); code != 1 || !strings.Contains(errOut.String(), "--since") {
		t.Errorf("redrive --since yesterday: exit %d, %s", code, errOut.String())
	}
}
