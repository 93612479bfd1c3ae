// Package traffic gives tests generated raw traffic together with what
// replay classifies it into: what a pipeline fed the same records in the
// same order must write to the classified topic.
//
// It is part of testkit, in a package of its own so that testkit imports
// no domain package: the classify and replay packages' own tests use
// testkit, and through this package they would import themselves.
package traffic

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/domain/replay"
)

// Stream is generated raw records and replay's classification of them.
type Stream struct {
	Records []generator.Record
	// Arrival, when set, is each record's arrival time: replay read it as
	// the line's received_at, and Messages stamps it on the Kafka record,
	// where normalize reads it.
	Arrival []time.Time
	// Classified is replay's output, one JSON object a record, in order.
	Classified []string
}

// Generate returns the first n records of the generator of gc and what
// replay makes of them read in that order, each line without a
// received_at (replay then takes a line's ts for its arrival).
func Generate(t testing.TB, ctx context.Context, gc generator.Config, n int) *Stream {
	t.Helper()
	g := generator.New(gc)
	recs := make([]generator.Record, n)
	for i := range recs {
		recs[i] = g.Next()
	}
	return Replay(t, ctx, recs, nil)
}

// Replay classifies recs as replay does, in order; arrival, when not nil,
// holds each record's arrival time (len(recs) of them).
func Replay(t testing.TB, ctx context.Context, recs []generator.Record, arrival []time.Time) *Stream {
	t.Helper()
	if arrival != nil && len(arrival) != len(recs) {
		t.Fatalf("traffic.Replay: %d arrival times for %d records", len(arrival), len(recs))
	}
	var in bytes.Buffer
	for i, r := range recs {
		if arrival != nil {
			in.Write(appendArrivedLine(nil, r, arrival[i]))
		} else {
			in.Write(generator.AppendJSONLine(nil, r))
		}
	}
	var out, rejects bytes.Buffer
	if _, err := replay.Run(ctx, replay.Config{}, &in, &out, &rejects); err != nil {
		t.Fatalf("traffic.Replay: %v", err)
	}
	s := &Stream{Records: recs, Arrival: arrival}
	for _, l := range testkit.Lines(out.Bytes()) {
		s.Classified = append(s.Classified, string(l))
	}
	return s
}

// appendArrivedLine is the replay line of r with its arrival time: a JSON
// object gets received_at as its first field; anything else (garbage)
// goes as it is, which replay rejects as the pipeline does.
func appendArrivedLine(dst []byte, r generator.Record, at time.Time) []byte {
	if len(r.Value) > 1 && r.Value[0] == '{' {
		r.Value = append([]byte(`{"received_at":"`+at.Format(time.RFC3339Nano)+`",`), r.Value[1:]...)
	}
	return generator.AppendJSONLine(dst, r)
}

// ByPostbackID maps each classified record's postback_id to its line.
func (s *Stream) ByPostbackID(t testing.TB) map[string]string {
	t.Helper()
	m := make(map[string]string, len(s.Classified))
	for _, l := range s.Classified {
		var r struct {
			PostbackID string `json:"postback_id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("traffic: replay line %q: %v", l, err)
		}
		m[r.PostbackID] = l
	}
	return m
}

// Messages are the records for topic, keyed by device as generated, with
// their arrival time as the Kafka timestamp when the Stream has them.
func (s *Stream) Messages(topic string) []kafka.Message {
	msgs := make([]kafka.Message, len(s.Records))
	for i, r := range s.Records {
		msgs[i] = kafka.Message{Topic: topic, Key: r.Key, Value: r.Value}
		if s.Arrival != nil {
			msgs[i].Time = s.Arrival[i]
		}
	}
	return msgs
}
