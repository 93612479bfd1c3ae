package pipeline

import (
	"bytes"
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
