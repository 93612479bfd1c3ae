package normalize

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

const (
	okClick = `{"kind": "click", "click_id": "c1", "touch": "click", "partner": "adnet", "campaign": "spring", "app_id": "a", "device_id": "d", "ts": "2026-03-01T10:00:00Z"}`
	okEvent = `{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "android", "device_id": "d", "type": "purchase", "ts": "2026-03-01T10:05:00Z", "revenue": 4.99, "currency": "USD", "transaction_id": "t1"}`
)

// edit replaces old by new in s once, failing loudly when old is absent so a
// typo in a table row cannot silently test the unedited line.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

func TestNormalizeRejects(t *testing.T) {
	n := newNormalizer(t)
	tests := []struct {
		name, base, old, new string
		field, reason        string
	}{
		{"no kind", okEvent, `"kind": "event", `, ``, "kind", "missing kind"},
		{"unknown kind", okEvent, `"kind": "event"`, `"kind": "view"`, "kind", `unknown kind "view"`},
		{"kind not string", okEvent, `"kind": "event"`, `"kind": 1`, "kind", "wrong type: got number, want string"},
		{"click without click_id", okClick, `"click_id": "c1", `, ``, "click_id", missing},
		{"click with empty click_id", okClick, `"click_id": "c1"`, `"click_id": ""`, "click_id", missing},
		{"click with null click_id", okClick, `"click_id": "c1"`, `"click_id": null`, "click_id", missing},
		{"click without partner", okClick, `"partner": "adnet", `, ``, "partner", missing},
		{"click without app_id", okClick, `"app_id": "a", `, ``, "app_id", missing},
		{"click without device_id", okClick, `"device_id": "d", `, ``, "device_id", missing},
		{"click without ts", okClick, `, "ts": "2026-03-01T10:00:00Z"`, ``, "ts", missing},
		{"click bad touch", okClick, `"touch": "click"`, `"touch": "view"`, "touch", `unknown touch "view"`},
		{"click bad ts", okClick, `2026-03-01T10:00:00Z`, `yesterday`, "ts", `unparsable time "yesterday"`},
		{"click ts without zone", okClick, `2026-03-01T10:00:00Z`, `2026-03-01T10:00:00`, "ts", `unparsable time "2026-03-01T10:00:00"`},
		{"click ts as number", okClick, `"2026-03-01T10:00:00Z"`, `1772359200`, "ts", "wrong type: got number, want string"},
		{"event without event_id", okEvent, `"event_id": "e1", `, ``, "event_id", missing},
		{"event without app_id", okEvent, `"app_id": "a", `, ``, "app_id", missing},
		{"event without platform", okEvent, `"platform": "android", `, ``, "platform", missing},
		{"event bad platform", okEvent, `"platform": "android"`, `"platform": "tv"`, "platform", `unknown platform "tv"`},
		{"event without device_id", okEvent, `"device_id": "d", `, ``, "device_id", missing},
		{"event without type", okEvent, `"type": "purchase", `, ``, "type", missing},
		{"event unknown type", okEvent, `"type": "purchase"`, `"type": "teleport"`, "type", `unknown type "teleport"`},
		{"event without ts", okEvent, `"ts": "2026-03-01T10:05:00Z", `, ``, "ts", missing},
		{"event bad ts", okEvent, `2026-03-01T10:05:00Z`, `2026-13-01T10:05:00Z`, "ts", `unparsable time "2026-13-01T10:05:00Z"`},
		{"custom_event without name", okEvent, `"type": "purchase"`, `"type": "custom_event"`, "name", "missing required field for custom_event"},
		{"negative revenue", okEvent, `"revenue": 4.99`, `"revenue": -1`, "revenue", "negative revenue -1"},
		{"revenue as string", okEvent, `"revenue": 4.99`, `"revenue": "4.99"`, "revenue", "wrong type: got string, want number"},
		{"revenue overflow", okEvent, `"revenue": 4.99`, `"revenue": 1e400`, "revenue", "wrong type: got number 1e400, want number"},
		{"revenue without currency", okEvent, `, "currency": "USD"`, ``, "currency", "missing currency with revenue"},
		{"lower-case currency", okEvent, `"currency": "USD"`, `"currency": "usd"`, "currency", `currency "usd" is not 3 upper-case letters`},
		{"long currency", okEvent, `"currency": "USD"`, `"currency": "USDT"`, "currency", `currency "USDT" is not 3 upper-case letters`},
		{"params value not string", okEvent, `"transaction_id": "t1"`, `"params": {"level": 1}`, "params", "wrong type: got number, want string"},
		{"params not object", okEvent, `"transaction_id": "t1"`, `"params": ["x"]`, "params", "wrong type: got array, want object"},
		{"user_id as number", okEvent, `"transaction_id": "t1"`, `"user_id": 7`, "user_id", "wrong type: got number, want string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := edit(t, tt.base, tt.old, tt.new)
			_, err := n.Normalize([]byte(line), time.Time{})
			var r *Reject
			if !errors.As(err, &r) {
				t.Fatalf("Normalize(%s) = %v, want a *Reject", line, err)
			}
			if r.Field != tt.field || r.Reason != tt.reason {
				t.Errorf("reject = {%q, %q}, want {%q, %q}", r.Field, r.Reason, tt.field, tt.reason)
			}
			if !errors.Is(err, ErrRejected) {
				t.Error("errors.Is(err, ErrRejected) = false")
			}
		})
	}
}

func TestNormalizeRejectsWholeRecord(t *testing.T) {
	n := newNormalizer(t)
	tests := []struct {
		name   string
		raw    string
		reason string // prefix
	}{
		{"empty", "", "empty message"},
		{"text", "hello", "first byte 0x68 is not json"},
		{"array", "[1]", "first byte 0x5b is not json"},
		{"broken json", `{"kind": "event"`, "malformed json: "},
		{"trailing garbage", okEvent + "x", "malformed json: "},
		{"confluent without resolver", "\x00\x00\x00\x00\x01\x02", "confluent-framed message: no schema resolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.Normalize([]byte(tt.raw), time.Time{})
			var r *Reject
			if !errors.As(err, &r) {
				t.Fatalf("err = %v, want *Reject", err)
			}
			if r.Field != "" || !strings.HasPrefix(r.Reason, tt.reason) {
				t.Errorf("reject = {%q, %q}, want reason starting %q", r.Field, r.Reason, tt.reason)
			}
		})
	}
}

func TestNormalizeAccepts(t *testing.T) {
	n := newNormalizer(t)
	ts := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	tests := []struct {
		name, base, old, new string
		check                func(t *testing.T, in schemas.Input)
	}{
		{"click as is", okClick, "", "", func(t *testing.T, in schemas.Input) {
			want := schemas.Click{ClickID: "c1", Touch: "click", Partner: "adnet", Campaign: "spring", AppID: "a", DeviceID: "d", TS: ts.Add(-5 * time.Minute)}
			if in.Click == nil || *in.Click != want || in.Event != nil {
				t.Errorf("got %+v, want %+v", in.Click, want)
			}
		}},
		{"touch defaults to click", okClick, `"touch": "click", `, ``, func(t *testing.T, in schemas.Input) {
			if in.Click.Touch != schemas.TouchClick {
				t.Errorf("touch = %q", in.Click.Touch)
			}
		}},
		{"impression", okClick, `"touch": "click"`, `"touch": "impression"`, func(t *testing.T, in schemas.Input) {
			if in.Click.Touch != schemas.TouchImpression {
				t.Errorf("touch = %q", in.Click.Touch)
			}
		}},
		{"campaign optional", okClick, `"campaign": "spring", `, ``, func(t *testing.T, in schemas.Input) {
			if in.Click.Campaign != "" {
				t.Errorf("campaign = %q", in.Click.Campaign)
			}
		}},
		{"event as is", okEvent, "", "", func(t *testing.T, in schemas.Input) {
			e := in.Event
			if e == nil || in.Click != nil || e.EventID != "e1" || e.Type != "purchase" || !e.TS.Equal(ts) || *e.Revenue != 4.99 || e.Currency != "USD" || e.TransactionID != "t1" {
				t.Errorf("got %+v", e)
			}
		}},
		{"ts to utc", okEvent, `2026-03-01T10:05:00Z`, `2026-03-01T12:05:00+02:00`, func(t *testing.T, in schemas.Input) {
			if in.Event.TS != ts {
				t.Errorf("ts = %v, want %v in UTC", in.Event.TS, ts)
			}
		}},
		{"ts truncated to micros", okEvent, `2026-03-01T10:05:00Z`, `2026-03-01T10:05:00.123456789Z`, func(t *testing.T, in schemas.Input) {
			if want := ts.Add(123456 * time.Microsecond); in.Event.TS != want {
				t.Errorf("ts = %v, want %v", in.Event.TS, want)
			}
		}},
		{"purchase without revenue", okEvent, `"revenue": 4.99, "currency": "USD", `, ``, func(t *testing.T, in schemas.Input) {
			if in.Event.Revenue != nil || in.Event.Currency != "" {
				t.Errorf("got %+v", in.Event)
			}
		}},
		{"revenue null is absent", okEvent, `"revenue": 4.99, "currency": "USD"`, `"revenue": null`, func(t *testing.T, in schemas.Input) {
			if in.Event.Revenue != nil {
				t.Errorf("revenue = %v", *in.Event.Revenue)
			}
		}},
		{"zero revenue", okEvent, `"revenue": 4.99`, `"revenue": -0.0`, func(t *testing.T, in schemas.Input) {
			if r := in.Event.Revenue; r == nil || *r != 0 || 1/(*r) < 0 {
				t.Errorf("revenue = %v, want +0", r)
			}
		}},
		{"transaction_id optional", okEvent, `, "transaction_id": "t1"`, ``, func(t *testing.T, in schemas.Input) {
			if in.Event.TransactionID != "" {
				t.Errorf("transaction_id = %q", in.Event.TransactionID)
			}
		}},
		{"custom_event with name and params", okEvent, `"type": "purchase"`, `"type": "custom_event", "name": "lvl", "params": {"level": "1"}`, func(t *testing.T, in schemas.Input) {
			if in.Event.Name != "lvl" || in.Event.Params["level"] != "1" {
				t.Errorf("got %+v", in.Event)
			}
		}},
		{"empty params dropped", okEvent, `"transaction_id": "t1"`, `"params": {}`, func(t *testing.T, in schemas.Input) {
			if in.Event.Params != nil {
				t.Errorf("params = %v", in.Event.Params)
			}
		}},
		{"unknown fields ignored", okEvent, `"kind": "event"`, `"kind": "event", "sdk": {"v": [1, 2]}, "click_id": "x"`, func(t *testing.T, in schemas.Input) {
			if in.Event == nil {
				t.Error("no event")
			}
		}},
		{"leading whitespace", okEvent, `{"kind"`, " \n\t{\"kind\"", func(t *testing.T, in schemas.Input) {
			if in.Event == nil {
				t.Error("no event")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.base
			if tt.old != "" {
				line = edit(t, line, tt.old, tt.new)
			}
			in, err := n.Normalize([]byte(line), time.Time{})
			if err != nil {
				t.Fatalf("Normalize(%s): %v", line, err)
			}
			tt.check(t, in)
		})
	}
}

// TestScenarioBadInput: the bad lines of scenario 07 are rejected with the
// right field, the others pass.
func TestScenarioBadInput(t *testing.T) {
	n := newNormalizer(t)
	want := map[int]string{4: "type", 5: "revenue", 6: "name"} // line -> rejected field
	f, err := os.Open("testdata/07-custom-and-bad-input.in.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		_, err := n.Normalize(bytes.Clone(s.Bytes()), time.Time{})
		var r *Reject
		switch field, bad := want[line]; {
		case bad && !errors.As(err, &r):
			t.Errorf("line %d: err = %v, want reject of %s", line, err, field)
		case bad && r.Field != field:
			t.Errorf("line %d: rejected %v, want field %s", line, r, field)
		case !bad && err != nil:
			t.Errorf("line %d: %v", line, err)
		}
	}
}

func newNormalizer(t testing.TB) *Normalizer {
	t.Helper()
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
