package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
)

// TestExplainCommand: `postbackd explain` over scenario 51's records says,
// per partner, which would be sent: the fraud tool's rejected ones only to
// the partner whose rule includes them, with the reason for the other.
func TestExplainCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "postbackd.yaml")
	if err := os.WriteFile(cfg, []byte(`sink:
  allow_private_networks: true
  partners:
    - id: strict
      rules: [{types: [install], mode: all, url: "http://127.0.0.1/s?id={postback_id}"}]
    - id: lenient
      rules: [{types: [install], mode: all, include_rejected: true, url: "http://127.0.0.1/l?id={postback_id}"}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(testkit.ScenarioDir(), "51-fraud-verdicts.out.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"explain", "--config", cfg, "--in", in}, &environment{stdout: &stdout, stderr: &stderr}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if want := len(testkit.Lines(mustRead(t, in))); len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	installs := 0
	for _, l := range lines {
		var out struct {
			Type     string `json:"type"`
			Partners []struct {
				Partner string `json:"partner"`
				Send    bool   `json:"send"`
				Reason  string `json:"reason"`
				Rules   []struct {
					Reason string `json:"reason"`
				} `json:"rules"`
			} `json:"partners"`
		}
		if err := json.Unmarshal([]byte(l), &out); err != nil || len(out.Partners) != 2 {
			t.Fatalf("line %s: %v", l, err)
		}
		strict, lenient := out.Partners[0], out.Partners[1]
		rejected := out.Type == "install" && !strict.Send
		switch {
		case out.Type != "install":
			if strict.Send || lenient.Send || strict.Rules[0].Reason != "type" {
				t.Errorf("a %s is sent, or not for its type: %s", out.Type, l)
			}
		case rejected:
			installs++
			if !lenient.Send || strict.Rules[0].Reason != "rejected" {
				t.Errorf("the rejected install: %s", l)
			}
		default:
			installs++
			if !strict.Send || !lenient.Send {
				t.Errorf("an install not sent: %s", l)
			}
		}
	}
	if installs != 5 { // e1, e2, e3 (rejected), e5, e7
		t.Errorf("%d installs explained, want 5", installs)
	}
	code := run(context.Background(), []string{"explain"}, &environment{stdout: &stdout, stderr: &stderr})
	if code != 2 {
		t.Errorf("without --config: exit %d", code)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
