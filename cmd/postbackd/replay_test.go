package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
)

// recordKey is what the scenarios are compared on.
type recordKey struct {
	PostbackID  string            `json:"postback_id"`
	Type        string            `json:"type"`
	EventID     string            `json:"event_id"`
	DeviceID    string            `json:"device_id"`
	UserID      string            `json:"user_id"`
	Attribution map[string]string `json:"attribution"`
}

func recordSet(t *testing.T, text string) []string {
	t.Helper()
	var set []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var k recordKey
		if err := json.Unmarshal([]byte(line), &k); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		b, _ := json.Marshal(k)
		set = append(set, string(b))
	}
	sort.Strings(set)
	return set
}

// TestReplayCommandScenarios runs every scenario through `postbackd
// replay` and compares the output with the expected records as sets.
func TestReplayCommandScenarios(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join(testkit.ScenarioDir(), "*.in.jsonl"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(in, ".in.jsonl") + ".out.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"replay", "--in", in}, &environment{stdout: &stdout, stderr: &stderr})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got, exp := recordSet(t, stdout.String()), recordSet(t, string(want))
			if strings.Join(got, "\n") != strings.Join(exp, "\n") {
				t.Errorf("records differ:\n got %v\nwant %v", got, exp)
			}
		})
	}
}

func TestReplayCommandReportsRejectsAndGoesOn(t *testing.T) {
	in := `{"kind":"event","event_id":"e1","app_id":"a","platform":"android","device_id":"d","type":"install","ts":"2026-03-01T10:00:00Z"}
not json
{"kind":"event","event_id":"e2","app_id":"a","platform":"android","device_id":"d","type":"login","ts":"2026-03-01T10:01:00Z"}
`
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"replay"}, &environment{stdin: strings.NewReader(in), stdout: &stdout, stderr: &stderr})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"line":2`) {
		t.Errorf("reject of line 2 not reported: %q", stderr.String())
	}
	if n := len(recordSet(t, stdout.String())); n != 4 { // install, first_login, login, login_ca
		t.Errorf("got %d records, want 4:\n%s", n, stdout.String())
	}
}
