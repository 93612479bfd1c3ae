package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Outcomes of a DeliveryLog, the values of its outcome field: what the
// sink (sinks/partner) writes, in both forms. Outcomes lists them all.
const (
	OutcomeDelivered        = "delivered"         // a 2xx answer
	OutcomeRetrying         = "retrying"          // failed; an in-process try follows
	OutcomeRetryScheduled   = "retry_scheduled"   // failed; sent to a retry tier
	OutcomeDeadLettered     = "deadlettered"      // final failure, or no tier left
	OutcomeParked           = "parked"            // breaker open or queue full: no try spent
	OutcomeHandedOff        = "handed_off"        // still running at batch_wait; a tier retry covers it
	OutcomeSkippedDuplicate = "skipped_duplicate" // already delivered to this partner
	OutcomeSkippedNoRule    = "skipped_no_rule"   // a retry whose partner or rule is gone from the config
	OutcomeSkippedPrivacy   = "skipped_privacy"   // the partner's privacy rules suppress it (Reason says which)
	OutcomeSkippedErased    = "skipped_erased"    // its device or user was erased after it arrived (PRIVACY.md, "Erasure")
)

// Outcomes lists every outcome of a DeliveryLog, in the order of the
// constants. delivery_log.avsc's outcome doc names the same ones (a test
// keeps them equal, and another that the sink writes no other).
var Outcomes = [...]string{
	OutcomeDelivered, OutcomeRetrying, OutcomeRetryScheduled, OutcomeDeadLettered,
	OutcomeParked, OutcomeHandedOff, OutcomeSkippedDuplicate, OutcomeSkippedNoRule,
	OutcomeSkippedPrivacy, OutcomeSkippedErased,
}

// IsOutcome reports whether o is one of Outcomes.
func IsOutcome(o string) bool {
	for _, k := range Outcomes {
		if k == o {
			return true
		}
	}
	return false
}

// DeliveryLog is one record of the delivery-log topic: one try of a
// postback to a partner, or a decision that involved no try (Attempt 0:
// skipped or parked), and its outcome.
//
// It has two forms with the same fields under the same names: Avro
// (DeliveryLogAvro, EncodeDeliveryLog) and JSON (AppendDeliveryLogJSON,
// also what encoding/json makes of it). Both carry At and NextAttempt to
// the millisecond, in UTC, and Latency in nanoseconds (latency_ns); a
// decoded record is in that precision whichever form it came from.
type DeliveryLog struct {
	PostbackID  string
	Partner     string
	Rule        int    // index of the partner's rule
	Attempt     int    // 1 for the first try, across tiers
	Tier        int    // retry tiers used before this try
	Method      string // "" without a try
	URL         string // query values redacted, no signature
	StatusCode  int    // 0 when there was no HTTP response
	Error       string
	Latency     time.Duration // to the answer's headers
	Outcome     string        // one of Outcomes
	At          time.Time
	NextAttempt time.Time // zero when no retry is planned
	Response    string    // start of the final answer's body
	// Reason says why a postback was skipped (skipped_privacy: opted_out,
	// limited or consent:<signal>); "" otherwise.
	Reason string
}

// wireTime is t as both forms carry it: UTC, to the millisecond.
func wireTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// Avro form.

// AppendDeliveryLogAvro appends the Avro binary body of d (schema
// DeliveryLogAvro).
func AppendDeliveryLogAvro(dst []byte, d *DeliveryLog) []byte {
	b := appendAvroString(dst, d.PostbackID)
	b = appendAvroString(b, d.Partner)
	b = appendInt(b, d.Rule)
	b = appendInt(b, d.Attempt)
	b = appendInt(b, d.Tier)
	b = appendAvroString(b, d.Method)
	b = appendAvroString(b, d.URL)
	b = appendInt(b, d.StatusCode)
	b = appendAvroString(b, d.Error)
	b = appendLong(b, int64(d.Latency))
	b = appendAvroString(b, d.Outcome)
	b = appendMillis(b, d.At)
	if d.NextAttempt.IsZero() {
		b = append(b, 0)
	} else {
		b = appendMillis(append(b, 2), d.NextAttempt)
	}
	b = appendAvroString(b, d.Response)
	return appendAvroString(b, d.Reason)
}

// EncodeDeliveryLog appends d as a single-object encoded DeliveryLogAvro
// message. It cannot fail today; the error is there for schema changes.
func EncodeDeliveryLog(dst []byte, d *DeliveryLog) ([]byte, error) {
	return AppendDeliveryLogAvro(appendSingleObjectHeader(dst, DeliveryLogAvro.Fingerprint), d), nil
}

// DecodeDeliveryLogAvro decodes an Avro binary body of schema
// DeliveryLogAvro.
func DecodeDeliveryLogAvro(body []byte) (DeliveryLog, error) {
	return decodeDeliveryLogAvro(body, schemaV3)
}

func decodeDeliveryLogAvro(body []byte, v schemaVersion) (DeliveryLog, error) {
	if v < schemaV2 {
		return decodeDeliveryLogV1(body)
	}
	r := avroReader{b: body}
	d := DeliveryLog{
		PostbackID: r.string(),
		Partner:    r.string(),
		Rule:       r.int(),
		Attempt:    r.int(),
		Tier:       r.int(),
		Method:     r.string(),
		URL:        r.string(),
		StatusCode: r.int(),
		Error:      r.string(),
		Latency:    time.Duration(r.long()),
		Outcome:    r.string(),
		At:         r.millis(),
	}
	if r.union(2) == 1 {
		d.NextAttempt = r.millis()
	}
	d.Response = r.string()
	if v >= schemaV3 {
		d.Reason = r.string()
	}
	if err := r.end(); err != nil {
		return DeliveryLog{}, fmt.Errorf("decode delivery log: %w", err)
	}
	return d, nil
}

// decodeDeliveryLogV1 reads a body of the v1 schema (testdata/v1): the
// fields v1 lacks are zero, its latency_ms becomes Latency.
func decodeDeliveryLogV1(body []byte) (DeliveryLog, error) {
	r := avroReader{b: body}
	d := DeliveryLog{
		PostbackID: r.string(),
		Partner:    r.string(),
		Attempt:    r.int(),
		URL:        r.string(),
		StatusCode: r.int(),
		Error:      r.string(),
	}
	ms := r.long()
	if r.err == nil && (ms < -maxLatencyMS || ms > maxLatencyMS) {
		r.fail("latency_ms %d out of range", ms)
	}
	d.Latency = time.Duration(ms) * time.Millisecond
	if r.union(2) == 1 {
		d.NextAttempt = r.millis()
	}
	d.Outcome = r.string()
	d.At = r.millis()
	if err := r.end(); err != nil {
		return DeliveryLog{}, fmt.Errorf("decode delivery log v1: %w", err)
	}
	return d, nil
}

// maxLatencyMS is the largest v1 latency_ms a time.Duration holds.
const maxLatencyMS = int64(1<<63-1) / int64(time.Millisecond)

// DecodeDeliveryLog decodes a single-object encoded DeliveryLogAvro
// message, of the current schema or of v1.
func DecodeDeliveryLog(b []byte) (DeliveryLog, error) {
	body, v, err := versionedBody(b, deliveryLogLayouts)
	if err != nil {
		return DeliveryLog{}, err
	}
	return decodeDeliveryLogAvro(body, v)
}

// JSON form.

// deliveryLogJSON is the JSON form of a DeliveryLog: the fields of
// delivery_log.avsc under the same names, in the same order; method, url,
// status_code, error and response are left out when empty, next_attempt
// when zero.
type deliveryLogJSON struct {
	PostbackID  string    `json:"postback_id"`
	Partner     string    `json:"partner"`
	Rule        int       `json:"rule"`
	Attempt     int       `json:"attempt"`
	Tier        int       `json:"tier"`
	Method      string    `json:"method,omitempty"`
	URL         string    `json:"url,omitempty"`
	StatusCode  int       `json:"status_code,omitempty"`
	Error       string    `json:"error,omitempty"`
	LatencyNS   int64     `json:"latency_ns"`
	Outcome     string    `json:"outcome"`
	At          time.Time `json:"at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Response    string    `json:"response,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

// AppendDeliveryLogJSON appends d as one JSON object (no newline), times
// in RFC 3339, UTC, to the millisecond. It fails only on a time outside
// the years 0 to 9999.
func AppendDeliveryLogJSON(dst []byte, d *DeliveryLog) ([]byte, error) {
	b, err := json.Marshal(deliveryLogJSON{
		PostbackID: d.PostbackID, Partner: d.Partner, Rule: d.Rule, Attempt: d.Attempt, Tier: d.Tier,
		Method: d.Method, URL: d.URL, StatusCode: d.StatusCode, Error: d.Error,
		LatencyNS: int64(d.Latency), Outcome: d.Outcome, At: wireTime(d.At),
		NextAttempt: wireTime(d.NextAttempt), Response: d.Response, Reason: d.Reason,
	})
	if err != nil {
		return dst, fmt.Errorf("encode delivery log json: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeDeliveryLogJSON decodes one delivery-log record in the JSON form
// of AppendDeliveryLogJSON (key order and spacing do not matter, a key
// left out is zero). Times come back in UTC to the millisecond.
func DecodeDeliveryLogJSON(b []byte) (DeliveryLog, error) {
	var j deliveryLogJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return DeliveryLog{}, fmt.Errorf("decode delivery log json: %w: %w", err, ErrMalformed)
	}
	d := DeliveryLog{
		PostbackID: j.PostbackID, Partner: j.Partner, Rule: j.Rule, Attempt: j.Attempt, Tier: j.Tier,
		Method: j.Method, URL: j.URL, StatusCode: j.StatusCode, Error: j.Error,
		Latency: time.Duration(j.LatencyNS), Outcome: j.Outcome, At: wireTime(j.At),
		NextAttempt: wireTime(j.NextAttempt), Response: j.Response, Reason: j.Reason,
	}
	for _, t := range []time.Time{d.At, d.NextAttempt} {
		if y := t.Year(); y < 0 || y > 9999 { // an offset moved it out of what the form can carry
			return DeliveryLog{}, fmt.Errorf("decode delivery log json: time %v out of range: %w", t, ErrMalformed)
		}
	}
	return d, nil
}

// MarshalJSON is AppendDeliveryLogJSON, so that encoding/json writes the
// same form.
func (d DeliveryLog) MarshalJSON() ([]byte, error) { return AppendDeliveryLogJSON(nil, &d) }

// UnmarshalJSON is DecodeDeliveryLogJSON.
func (d *DeliveryLog) UnmarshalJSON(b []byte) error {
	v, err := DecodeDeliveryLogJSON(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
