package schemas

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestClassifiedJSONGolden decodes every classified line of the scenario
// outputs and re-encodes it: the bytes must be identical.
func TestClassifiedJSONGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/classified/*.out.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for i, line := range readLines(t, f) {
				c, err := DecodeClassifiedJSON(line)
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if got := AppendClassifiedJSON(nil, &c); !bytes.Equal(got, line) {
					t.Errorf("line %d:\n got %s\nwant %s", i+1, got, line)
				}
			}
		})
	}
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	s := bufio.NewScanner(f)
	for s.Scan() {
		if len(bytes.TrimSpace(s.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(s.Bytes()))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func ptr(f float64) *float64 { return &f }

func TestAppendClassifiedJSON(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	base := Classified{
		PostbackID: "p", Type: TypePurchase, EventID: "e1", AppID: "a", Platform: PlatformIOS,
		DeviceID: "d", EventTS: ts, Attribution: Organic,
	}
	const head = `{"app_id": "a", "attribution": {"campaign": "", "click_id": "", "partner": "", "touch": "organic"}`
	const tail = `, "platform": "ios", "postback_id": "p", "privacy": {}`
	tests := []struct {
		name string
		edit func(c *Classified)
		want string
	}{
		{"minimal", func(*Classified) {}, head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z"` + tail + `, "type": "purchase", "user_id": ""}`},
		{"zero revenue prints 0", func(c *Classified) { c.Revenue = ptr(0); c.Currency = "USD" },
			head + `, "currency": "USD", "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z"` + tail + `, "revenue": 0, "type": "purchase", "user_id": ""}`},
		{"big and small revenue", func(c *Classified) { c.Revenue = ptr(1e21) },
			head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z"` + tail + `, "revenue": 1e+21, "type": "purchase", "user_id": ""}`},
		{"million revenue", func(c *Classified) { c.Revenue = ptr(1000000) },
			head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z"` + tail + `, "revenue": 1000000, "type": "purchase", "user_id": ""}`},
		{"fractional ts in utc", func(c *Classified) {
			c.EventTS = time.Date(2026, 3, 1, 12, 5, 0, 123400000, time.FixedZone("x", 2*3600))
		}, head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00.1234Z"` + tail + `, "type": "purchase", "user_id": ""}`},
		{"all optionals", func(c *Classified) {
			c.Name, c.TransactionID, c.UserID = "n", "t", "u"
			c.Params = map[string]string{"z": "1", "a": "q\"\n\x01é"}
		}, head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z", "name": "n", "params": {"a": "q\"\n\u0001é", "z": "1"}` + tail + `, "transaction_id": "t", "type": "purchase", "user_id": "u"}`},
		{"invalid utf8", func(c *Classified) { c.UserID = "a\xffb" },
			head + `, "device_id": "d", "event_id": "e1", "event_ts": "2026-03-01T10:05:00Z"` + tail + `, "type": "purchase", "user_id": "a\ufffdb"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			got := string(AppendClassifiedJSON(nil, &c))
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestClassifiedFieldNames: the classified record's JSON form has the
// Avro schema's fields under the same names (its keys are sorted, as
// replay's output and the scenarios are), and the Go type has a field for
// each (one truth per topic).
func TestClassifiedFieldNames(t *testing.T) {
	rev := 1.5
	full := Classified{PostbackID: "p", Type: TypeInstall, EventID: "e", AppID: "a", Platform: PlatformIOS, DeviceID: "d",
		UserID: "u", EventTS: time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC), Name: "n", Revenue: &rev, Currency: "USD",
		TransactionID: "t", Params: map[string]string{"k": "v"}, Attribution: Attribution{Touch: TouchClick, Partner: "p"}, TSAdjusted: true,
		AttributedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Rejected: true, RejectReason: "bot"}
	got, want := jsonKeys(t, AppendClassifiedJSON(nil, &full)), avroFieldNames(t, classifiedAVSC)
	if slices.Sort(want); !slices.IsSorted(got) || !slices.Equal(got, want) {
		t.Errorf("JSON keys %v\nAvro fields %v", got, want)
	}
	if n, fields := reflect.TypeFor[Classified]().NumField(), avroFieldNames(t, classifiedAVSC); n != len(fields) {
		t.Errorf("Classified has %d fields, the schema %d", n, len(fields))
	}
}
