package normalize

import (
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// DefaultMaxClockSkew is how far ahead of its arrival a record's ts may be
// before it is taken for a wrong device clock (CLASSIFICATION.md, "Time").
const DefaultMaxClockSkew = 24 * time.Hour

// MaxTS bounds every time the pipeline computes with: it keeps arrival +
// skew, and every ts, far from where Go's UnixNano overflows (2262).
var MaxTS = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// ReasonTSAfter2200 is the reject reason of a ts after MaxTS on a record
// with no usable arrival time to replace it with.
const ReasonTSAfter2200 = "ts after 2200 and no arrival time"

// avroYearOne: Avro has no absent ts (the field is required), so a zero
// time there is a ts of 0001-01-01, a clock never set, not a missing field:
// move it off zero so that it is refused as before 2000.
func avroYearOne(in *schemas.Input) {
	for _, ts := range []*time.Time{clickTS(in), eventTS(in)} {
		if ts != nil && ts.IsZero() {
			*ts = ts.Add(time.Microsecond)
		}
	}
}

func clickTS(in *schemas.Input) *time.Time {
	if in.Click == nil {
		return nil
	}
	return &in.Click.TS
}

func eventTS(in *schemas.Input) *time.Time {
	if in.Event == nil {
		return nil
	}
	return &in.Event.TS
}

// applyTime enforces the time rules on a validated record: a ts before
// 2000 is refused; a ts later than arrival + skew is replaced by the
// arrival time (Event.TSAdjusted). An arrival outside [2000, 2200) (a
// producer that set no timestamp, or a wrong one) is no arrival: the ts
// stands then, unless it is past MaxTS.
func applyTime(in *schemas.Input, arrival time.Time, skew time.Duration) error {
	ts := clickTS(in) // one of the two is set: normalizeInput checked
	if ts == nil {
		ts = eventTS(in)
	}
	if ts.Before(schemas.MinTS) {
		return reject("ts", schemas.ReasonTSBefore2000)
	}
	known := !arrival.Before(schemas.MinTS) && arrival.Before(MaxTS)
	limit := MaxTS
	if known {
		arrival = arrival.UTC().Truncate(time.Microsecond)
		if l := arrival.Add(skew); l.Before(limit) {
			limit = l
		}
	}
	if !ts.After(limit) {
		return nil
	}
	if !known {
		return reject("ts", ReasonTSAfter2200)
	}
	*ts = arrival
	if in.Event != nil {
		in.Event.TSAdjusted = true
	}
	return nil
}
