package schemas

import (
	"fmt"
	"time"
)

// Outcomes of a delivery attempt, the outcome field of a DeliveryLog.
const (
	OutcomeDelivered  = "delivered"
	OutcomeRetry      = "retry"
	OutcomeFailed     = "failed"
	OutcomeDeadletter = "deadletter"
	OutcomeSkipped    = "skipped"
)

// DeliveryLog is one delivery attempt of a postback and its outcome, the
// record of the delivery-log topic. Times have millisecond precision on the
// wire.
type DeliveryLog struct {
	PostbackID    string
	Partner       string
	Attempt       int
	URL           string // query redacted
	StatusCode    int    // 0 when there was no HTTP response
	Error         string
	LatencyMS     int64
	NextAttemptAt time.Time // zero when no retry is planned
	Outcome       string
	At            time.Time
}

// AppendDeliveryLogAvro appends the Avro binary body of d (schema
// DeliveryLogAvro).
func AppendDeliveryLogAvro(dst []byte, d *DeliveryLog) []byte {
	b := appendAvroString(dst, d.PostbackID)
	b = appendAvroString(b, d.Partner)
	b = appendInt(b, d.Attempt)
	b = appendAvroString(b, d.URL)
	b = appendInt(b, d.StatusCode)
	b = appendAvroString(b, d.Error)
	b = appendLong(b, d.LatencyMS)
	if d.NextAttemptAt.IsZero() {
		b = append(b, 0)
	} else {
		b = appendMillis(append(b, 2), d.NextAttemptAt)
	}
	b = appendAvroString(b, d.Outcome)
	return appendMillis(b, d.At)
}

// EncodeDeliveryLog appends d as a single-object encoded DeliveryLogAvro
// message.
func EncodeDeliveryLog(dst []byte, d *DeliveryLog) ([]byte, error) {
	return AppendDeliveryLogAvro(appendSingleObjectHeader(dst, DeliveryLogAvro.Fingerprint), d), nil
}

// DecodeDeliveryLogAvro decodes an Avro binary body of schema
// DeliveryLogAvro.
func DecodeDeliveryLogAvro(body []byte) (DeliveryLog, error) {
	r := avroReader{b: body}
	d := DeliveryLog{
		PostbackID: r.string(),
		Partner:    r.string(),
		Attempt:    r.int(),
		URL:        r.string(),
		StatusCode: r.int(),
		Error:      r.string(),
		LatencyMS:  r.long(),
	}
	if r.union(2) == 1 {
		d.NextAttemptAt = r.millis()
	}
	d.Outcome = r.string()
	d.At = r.millis()
	if err := r.end(); err != nil {
		return DeliveryLog{}, fmt.Errorf("decode delivery log: %w", err)
	}
	return d, nil
}

// DecodeDeliveryLog decodes a single-object encoded DeliveryLogAvro message.
func DecodeDeliveryLog(b []byte) (DeliveryLog, error) {
	body, err := singleObjectBody(b, DeliveryLogAvro)
	if err != nil {
		return DeliveryLog{}, err
	}
	return DecodeDeliveryLogAvro(body)
}
