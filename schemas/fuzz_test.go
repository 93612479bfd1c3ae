package schemas

import (
	"bytes"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Fuzz targets for every decoder of untrusted bytes: they must never panic,
// and whatever decodes must re-encode to something that decodes the same.

func seedLines(f *testing.F, glob string) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds %s: %v", glob, err)
	}
	for _, file := range files {
		for _, line := range readLines(f, file) {
			f.Add(line)
		}
	}
}

func FuzzDecodeInputJSON(f *testing.F) {
	seedLines(f, "testdata/input/*.in.jsonl")
	f.Add([]byte(`{"kind": "event", "revenue": "1", "ts": 5, "params": {"a": 1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInputJSON(b)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		if y := inputTS(in).UTC().Year(); y < 1 || y > 9999 {
			return // time.Format cannot round-trip it as RFC 3339
		}
		once := AppendInputJSON(nil, &in)
		again, err := DecodeInputJSON(once)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", once, err)
		}
		if twice := AppendInputJSON(nil, &again); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

func FuzzDecodeClassifiedJSON(f *testing.F) {
	seedLines(f, "testdata/classified/*.out.jsonl")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClassifiedJSON(b)
		if err != nil {
			return
		}
		once := AppendClassifiedJSON(nil, &c)
		again, err := DecodeClassifiedJSON(once)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", once, err)
		}
		if twice := AppendClassifiedJSON(nil, &again); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

func seedAvro(f *testing.F) {
	ts := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	click := Click{ClickID: "c1", Touch: "click", Partner: "p", AppID: "a", DeviceID: "d", TS: ts}
	event := Event{EventID: "e1", AppID: "a", Platform: "ios", DeviceID: "d", Type: "purchase", TS: ts,
		Revenue: ptr(1.5), Currency: "EUR", Params: map[string]string{"k": "v", "l": "w"}}
	b, _ := EncodeInput(nil, &Input{Click: &click})
	f.Add(b)
	b, _ = EncodeInput(nil, &Input{Event: &event})
	f.Add(b)
	f.Add(append(appendSingleObjectHeader(nil, ClickAvro.Fingerprint), appendClickAvro(nil, &click)...))
	f.Add(append(appendSingleObjectHeader(nil, EventAvro.Fingerprint), appendEventAvro(nil, &event)...))
	b, _ = EncodeUserEvent(nil, &UserEvent{Event: event, Attribution: Organic})
	f.Add(b)
	b, _ = EncodeClassified(nil, &Classified{PostbackID: "p", Params: event.Params, Revenue: event.Revenue})
	f.Add(b)
	for _, d := range seedDeliveryLogs(ts) {
		b, _ = EncodeDeliveryLog(nil, &d)
		f.Add(b)
	}
	for _, line := range readLines(f, "testdata/v1/delivery_log.hex") { // v1 records
		if b, err := hex.DecodeString(string(line)); err == nil {
			f.Add(b)
		}
	}
	for _, r := range seedRejects() {
		b, _ = EncodeReject(nil, &r)
		f.Add(b)
	}
}

func seedDeliveryLogs(ts time.Time) []DeliveryLog {
	return []DeliveryLog{
		{PostbackID: "p", NextAttempt: ts, At: ts},
		{PostbackID: "p", Partner: "adnet", Rule: 1, Attempt: 2, Tier: 1, Method: "GET", URL: "https://a.example/pb?id=REDACTED",
			StatusCode: 503, Error: "status 503", Latency: 120 * time.Millisecond, Outcome: OutcomeRetryScheduled,
			At: ts, NextAttempt: ts.Add(time.Minute), Response: "busy"},
		{PostbackID: "p", Partner: "adnet", Outcome: OutcomeSkippedDuplicate, At: ts},
	}
}

func seedRejects() []Reject {
	return []Reject{
		{Reason: "r", Raw: []byte("{")},
		{Reason: "ts before 2000", Field: "ts", Raw: []byte(`{"kind": "event"}`), Topic: "raw.events", Partition: 3, Offset: 42},
		{Reason: "invalid utf-8", Raw: []byte{0xff, 'a', 0xc3}},
	}
}

// FuzzDecodeDeliveryLogJSON: the JSON form of the delivery log.
func FuzzDecodeDeliveryLogJSON(f *testing.F) {
	ts := time.Date(2026, 3, 1, 10, 5, 0, 123456789, time.UTC)
	for _, d := range seedDeliveryLogs(ts) {
		b, _ := AppendDeliveryLogJSON(nil, &d)
		f.Add(b)
	}
	f.Add([]byte(`{"postback_id": "p", "latency_ns": 1e3, "at": "2026-03-01T10:05:00.123456789+02:00", "next_attempt": null}`))
	f.Add([]byte(`{"at": "0000-01-01T00:30:00+01:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDeliveryLogJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		once, err := AppendDeliveryLogJSON(nil, &d)
		if err != nil {
			t.Fatalf("re-encode of %+v: %v", d, err)
		}
		again, err := DecodeDeliveryLogJSON(once)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", once, err)
		}
		if twice, _ := AppendDeliveryLogJSON(nil, &again); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

// FuzzDecodeRejectJSON: the JSON form of the deadletter record.
func FuzzDecodeRejectJSON(f *testing.F) {
	for _, r := range seedRejects() {
		b, _ := AppendRejectJSON(nil, &r)
		f.Add(b)
	}
	f.Add([]byte(`{"raw": "\ud800", "partition": 1e2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRejectJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		once, err := AppendRejectJSON(nil, &r)
		if err != nil {
			t.Fatalf("re-encode of %+v: %v", r, err)
		}
		again, err := DecodeRejectJSON(once)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", once, err)
		}
		if twice, _ := AppendRejectJSON(nil, &again); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

func FuzzDecodeRawSingleObject(f *testing.F) {
	seedAvro(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeRawSingleObject(b)
		if err != nil {
			return
		}
		if in.Click != nil && in.Event != nil {
			t.Fatal("both click and event")
		}
	})
}

func FuzzDecodeRawConfluent(f *testing.F) {
	foreign, err := goavro.NewCodec(foreignEventSchema)
	if err != nil {
		f.Fatal(err)
	}
	arrays, err := goavro.NewCodec(`{"type": "record", "name": "X", "fields": [
	 {"name": "event_id", "type": "string"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
	 {"name": "params", "type": {"type": "map", "values": "string"}}]}`)
	if err != nil {
		f.Fatal(err)
	}
	resolve := func(id int) (*goavro.Codec, error) {
		switch id {
		case 1:
			return EventAvro.Codec, nil
		case 2:
			return foreign, nil
		case 3:
			return arrays, nil
		}
		return nil, ErrUnknownSchema
	}
	event := Event{EventID: "e1", AppID: "a", Platform: "ios", DeviceID: "d", Type: "launch"}
	f.Add(append(AppendConfluentHeader(nil, 1), appendEventAvro(nil, &event)...))
	b, _ := foreign.BinaryFromNative(AppendConfluentHeader(nil, 2), map[string]any{
		"event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "launch",
		"ts": "2026-03-01T10:05:00Z", "sdk_version": int32(1), "params": goavro.Union("map", map[string]any{"k": "v"}),
	})
	f.Add(b)
	b, _ = arrays.BinaryFromNative(AppendConfluentHeader(nil, 3), map[string]any{
		"event_id": "e1", "tags": []any{"x"}, "params": map[string]any{"k": "v"},
	})
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0, 3, 2, 'e', 0xfe, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeRawConfluent(b, resolve)
	})
}

// FuzzDecodeInternal runs the internal-topic decoders on the same bytes:
// a corrupt or foreign message on an internal topic must fail, not panic,
// and a decoded one must re-encode to the same value.
func FuzzDecodeInternal(f *testing.F) {
	seedAvro(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, err := DecodeInput(b); err == nil {
			re, err := EncodeInput(nil, &in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeInput(re); err != nil {
				t.Fatalf("re-decode input: %v", err)
			}
		}
		if u, err := DecodeUserEvent(b); err == nil {
			re, _ := EncodeUserEvent(nil, &u)
			if _, err := DecodeUserEvent(re); err != nil {
				t.Fatalf("re-decode user event: %v", err)
			}
		}
		if c, err := DecodeClassified(b); err == nil {
			re, _ := EncodeClassified(nil, &c)
			if _, err := DecodeClassified(re); err != nil {
				t.Fatalf("re-decode classified: %v", err)
			}
		}
		if d, err := DecodeDeliveryLog(b); err == nil {
			re, _ := EncodeDeliveryLog(nil, &d)
			if _, err := DecodeDeliveryLog(re); err != nil {
				t.Fatalf("re-decode delivery log: %v", err)
			}
		}
		if r, err := DecodeReject(b); err == nil {
			re, _ := EncodeReject(nil, &r)
			if _, err := DecodeReject(re); err != nil {
				t.Fatalf("re-decode reject: %v", err)
			}
		}
	})
}

func inputTS(in Input) time.Time {
	if in.Click != nil {
		return in.Click.TS
	}
	return in.Event.TS
}
