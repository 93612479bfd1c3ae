package pipeline

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/schemas"
)

// TestDeadletterFitsTheBroker: the deadletter record of any input, however
// large or however invalid its bytes, stays within the message size; the
// raw value is cut, and the header says how long it was.
func TestDeadletterFitsTheBroker(t *testing.T) {
	const max = 1 << 20
	raw := bytes.Repeat([]byte{0xff}, 900<<10) // each byte a 6-byte escape in JSON
	for _, json := range []bool{true, false} {
		enc := newClassifiedEncoder(json, max)
		m, err := enc.deadletter("dl", kafka.Message{Topic: "raw", Value: raw}, "", "too large")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Value) > max-4096 {
			t.Errorf("json=%v: deadletter record of %d bytes", json, len(m.Value))
		}
		var truncated string
		for _, h := range m.Headers {
			if h.Key == HeaderRawTruncated {
				truncated = string(h.Value)
			}
		}
		if truncated != "921600" {
			t.Errorf("json=%v: truncated header %q", json, truncated)
		}
	}
	// A small raw value is kept whole.
	enc := newClassifiedEncoder(false, max)
	m, err := enc.deadletter("dl", kafka.Message{Topic: "raw", Value: []byte("abc")}, "f", "r")
	if err != nil {
		t.Fatal(err)
	}
	r, err := schemas.DecodeReject(m.Value)
	if err != nil || string(r.Raw) != "abc" {
		t.Fatalf("reject %+v, %v", r, err)
	}
}

// TestDeadletterForms: the deadletter record is schemas.Reject in either
// format, with the same fields, and its headers say the same.
func TestDeadletterForms(t *testing.T) {
	src := kafka.Message{Topic: "raw.events", Partition: 3, Offset: 42, Key: []byte("d1"), Value: []byte(`{"kind": "event"}`)}
	want := schemas.Reject{Reason: "ts before 2000", Field: "ts", Raw: src.Value, Topic: src.Topic, Partition: 3, Offset: 42}
	for _, tt := range []struct {
		json   bool
		decode func([]byte) (schemas.Reject, error)
	}{
		{true, schemas.DecodeRejectJSON},
		{false, schemas.DecodeReject},
	} {
		m, err := newClassifiedEncoder(tt.json, 1<<20).deadletter("dl", src, want.Field, want.Reason)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tt.decode(m.Value)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("json=%v: %+v (%v), want %+v", tt.json, got, err, want)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if headers[HeaderRejectReason] != want.Reason || headers[HeaderRejectField] != want.Field ||
			headers[HeaderSourceTopic] != want.Topic || headers[HeaderSourcePartition] != "3" || headers[HeaderSourceOffset] != "42" {
			t.Errorf("json=%v: headers %v", tt.json, headers)
		}
		if m.Topic != "dl" || string(m.Key) != "d1" {
			t.Errorf("json=%v: topic %q key %q", tt.json, m.Topic, m.Key)
		}
	}
}
