package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/schemas"
)

func TestScenarios(t *testing.T) {
	for _, sc := range testkit.Scenarios(t, testkit.ScenarioDir()) {
		t.Run(sc.Name, func(t *testing.T) {
			input, want := sc.In(t), sc.Out(t)
			for _, size := range []int{1, 4096} {
				var out, rejects bytes.Buffer
				if _, err := Run(context.Background(), Config{BatchSize: size}, bytes.NewReader(input), &out, &rejects); err != nil {
					t.Fatal(err)
				}
				g, w := recordSet(t, out.Bytes()), recordSet(t, want)
				if g != w {
					t.Fatalf("batch size %d:\ngot:\n%s\nwant:\n%s", size, g, w)
				}
				if g, w := recordOrder(t, out.Bytes()), recordOrder(t, want); g != w {
					t.Errorf("batch size %d: order differs:\ngot:\n%s\nwant:\n%s", size, g, w)
				}
				if sc.Exact() && !bytes.Equal(out.Bytes(), want) {
					t.Errorf("batch size %d: output differs from %s byte for byte:\n%s", size, sc.OutPath, out.Bytes())
				}
			}
		})
	}
}

func TestRejectsCarryLineNumbers(t *testing.T) {
	input := `{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "android", "device_id": "d", "type": "install", "ts": "2026-03-01T10:05:00Z"}

not json
{"kind": "event", "event_id": "e2", "app_id": "a", "platform": "android", "device_id": "d", "type": "teleport", "ts": "2026-03-01T10:05:00Z"}
{"kind": "event", "event_id": "e3", "app_id": "a", "platform": "android", "device_id": "d", "type": "launch", "ts": "2026-03-01T10:05:00Z", "params": {"x": "` + strings.Repeat("y", MaxLineBytes) + `"}}
{"kind": "event", "event_id": "e4", "app_id": "a", "platform": "android", "device_id": "d", "type": "login", "ts": "2026-03-01T10:06:00Z"}`
	var out, rejects bytes.Buffer
	stats, err := Run(context.Background(), Config{}, strings.NewReader(input), &out, &rejects)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	sc := bufio.NewScanner(&rejects)
	for sc.Scan() {
		var r struct {
			Line   int    `json:"line"`
			Field  string `json:"field"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Reason == "" {
			t.Fatalf("reject line %q: %v", sc.Text(), err)
		}
		lines = append(lines, r.Line)
	}
	if fmt.Sprint(lines) != "[3 4 5]" {
		t.Fatalf("rejected lines %v, want [3 4 5]\n%s", lines, rejects.String())
	}
	if stats.Lines != 6 || stats.Rejected != 3 || stats.Inputs != 2 || stats.Records != 4 {
		t.Fatalf("stats %+v", stats)
	}
	if !strings.Contains(out.String(), `"first_login"`) {
		t.Fatalf("the line after a too-long one was lost:\n%s", out.String())
	}
}

func TestStateDirKeepsState(t *testing.T) {
	dir := t.TempDir()
	first := `{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "android", "device_id": "d", "type": "install", "ts": "2026-03-01T10:05:00Z"}`
	again := `{"kind": "event", "event_id": "e2", "app_id": "a", "platform": "android", "device_id": "d", "type": "install", "ts": "2026-03-02T10:05:00Z"}`
	for i, in := range []string{first, again} {
		var out bytes.Buffer
		if _, err := Run(context.Background(), Config{StateDir: dir}, strings.NewReader(in), &out, nil); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "\n"); got != 1-i {
			t.Fatalf("run %d: %d records, want %d:\n%s", i, got, 1-i, out.String())
		}
	}
}

func recordSet(t *testing.T, b []byte) string {
	t.Helper()
	ks := recordKeys(t, b)
	sort.Strings(ks)
	return strings.Join(ks, "\n")
}

// recordOrder is the order of records per event: the scenarios list an
// event's device records, then its user records.
func recordOrder(t *testing.T, b []byte) string {
	return strings.Join(recordKeys(t, b), "\n")
}

func recordKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var ks []string
	for _, line := range testkit.Lines(b) {
		c, err := schemas.DecodeClassifiedJSON(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		a := c.Attribution
		ks = append(ks, fmt.Sprintf("%s %s %s dev=%s user=%s attr=%s/%s/%s/%s", c.Type, c.EventID, c.PostbackID, c.DeviceID, c.UserID, a.Touch, a.Partner, a.Campaign, a.ClickID))
	}
	return ks
}
