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
	"fmt"
	"sort"
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

// Arrivals shapes a generated stream as it reaches the two raw topics.
type Arrivals struct {
	// NoiseClicks is how many clicks of devices that never install come
	// with each generated click, as in real click streams (each a copy of
	// the click on a device of its own).
	NoiseClicks int
	// Start is the first record's arrival time, and Step the time between
	// consecutive records: records two apart may share a millisecond, and
	// at equal times clicks come first, as the merge orders them.
	Start time.Time
	Step  time.Duration
}

// Arrived returns the first n records of the generator of gc, with the
// noise clicks of a, each with its arrival time, in arrival order, and
// what replay makes of them in that order.
func Arrived(t testing.TB, ctx context.Context, gc generator.Config, n int, a Arrivals) *Stream {
	t.Helper()
	g := generator.New(gc)
	var recs []generator.Record
	noise := 0
	for range n {
		r := g.Next()
		recs = append(recs, r)
		if r.Kind != generator.KindClick {
			continue
		}
		for range a.NoiseClicks {
			noise++
			recs = append(recs, noiseClick(t, r, noise))
		}
	}
	arrival := make([]time.Time, len(recs))
	for i := range recs {
		// Pairs share a millisecond: the tie rule is exercised.
		arrival[i] = a.Start.Add(time.Duration(i/2) * a.Step).Truncate(time.Millisecond)
	}
	return InArrivalOrder(t, ctx, recs, arrival)
}

// InArrivalOrder sorts recs as the pipeline must merge them (by arrival
// time, clicks first at equal times, else in the order given) and
// returns them with what replay makes of them in that order.
func InArrivalOrder(t testing.TB, ctx context.Context, recs []generator.Record, arrival []time.Time) *Stream {
	t.Helper()
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		ai, aj := arrival[order[i]], arrival[order[j]]
		if !ai.Equal(aj) {
			return ai.Before(aj)
		}
		return recs[order[i]].Kind == generator.KindClick && recs[order[j]].Kind != generator.KindClick
	})
	sorted, at := make([]generator.Record, len(recs)), make([]time.Time, len(recs))
	for i, k := range order {
		sorted[i], at[i] = recs[k], arrival[k]
	}
	return Replay(t, ctx, sorted, at)
}

// SameJSON reports whether two JSON objects hold the same content,
// whatever their spacing and field order; "" equals only "".
func SameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("traffic: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("traffic: %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// noiseClick is a copy of click on a device of its own, which never
// installs.
func noiseClick(t testing.TB, click generator.Record, k int) generator.Record {
	var v map[string]any
	if err := json.Unmarshal(click.Value, &v); err != nil {
		t.Fatalf("traffic: click %q: %v", click.Value, err)
	}
	dev := fmt.Sprintf("noise-%d", k)
	v["device_id"], v["click_id"] = dev, fmt.Sprintf("noise-click-%d", k)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return generator.Record{Key: []byte(dev), Value: b, Kind: generator.KindClick, DeviceID: dev, Time: click.Time}
}

// RawMessages are the records routed as apps produce them: clicks to the
// clicks topic, everything else (events, garbage) to the events topic,
// keyed by device, with their arrival times.
func (s *Stream) RawMessages(clicks, events string) []kafka.Message {
	msgs := s.Messages(events)
	for i := range msgs {
		if s.Records[i].Kind == generator.KindClick {
			msgs[i].Topic = clicks
		}
	}
	return msgs
}
