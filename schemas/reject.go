package schemas

import (
	"encoding/json"
	"fmt"
)

// Reject is a raw record refused by normalize (or an input a later stage
// could not write), the record of the deadletter topic: why, which field,
// the raw bytes as received and where they came from, so the record can
// be fixed and replayed.
//
// It has two forms with the same fields under the same names: Avro
// (RejectAvro, EncodeReject) and JSON (AppendRejectJSON). JSON carries Raw
// as a string: raw bytes that are not valid UTF-8 come back with each
// invalid byte replaced by U+FFFD (written as the 6-byte escape \ufffd),
// which the Avro form keeps as they were.
type Reject struct {
	Reason    string
	Field     string // "" when the record as a whole was unreadable
	Raw       []byte
	Topic     string
	Partition int
	Offset    int64
}

// AppendRejectAvro appends the Avro binary body of r (schema RejectAvro).
func AppendRejectAvro(dst []byte, r *Reject) []byte {
	b := appendAvroString(dst, r.Reason)
	b = appendAvroString(b, r.Field)
	b = appendAvroBytes(b, r.Raw)
	b = appendAvroString(b, r.Topic)
	b = appendInt(b, r.Partition)
	return appendLong(b, r.Offset)
}

// EncodeReject appends r as a single-object encoded RejectAvro message.
func EncodeReject(dst []byte, r *Reject) ([]byte, error) {
	return AppendRejectAvro(appendSingleObjectHeader(dst, RejectAvro.Fingerprint), r), nil
}

// DecodeRejectAvro decodes an Avro binary body of schema RejectAvro.
func DecodeRejectAvro(body []byte) (Reject, error) {
	r := avroReader{b: body}
	rj := Reject{
		Reason:    r.string(),
		Field:     r.string(),
		Raw:       r.bytes(),
		Topic:     r.string(),
		Partition: r.int(),
		Offset:    r.long(),
	}
	if err := r.end(); err != nil {
		return Reject{}, fmt.Errorf("decode reject: %w", err)
	}
	return rj, nil
}

// DecodeReject decodes a single-object encoded RejectAvro message.
func DecodeReject(b []byte) (Reject, error) {
	body, err := singleObjectBody(b, RejectAvro)
	if err != nil {
		return Reject{}, err
	}
	return DecodeRejectAvro(body)
}

// rejectJSON is the JSON form of a Reject: the fields of reject.avsc under
// the same names, every one always present.
type rejectJSON struct {
	Reason    string `json:"reason"`
	Field     string `json:"field"`
	Raw       string `json:"raw"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// AppendRejectJSON appends r as one JSON object (no newline). It cannot
// fail today; the error is there for schema changes.
func AppendRejectJSON(dst []byte, r *Reject) ([]byte, error) {
	b, err := json.Marshal(rejectJSON{Reason: r.Reason, Field: r.Field, Raw: string(r.Raw), Topic: r.Topic,
		Partition: r.Partition, Offset: r.Offset})
	if err != nil {
		return dst, fmt.Errorf("encode reject json: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeRejectJSON decodes one deadletter record in the JSON form of
// AppendRejectJSON (key order and spacing do not matter, a key left out
// is zero). An empty raw is nil, as from the Avro form.
func DecodeRejectJSON(b []byte) (Reject, error) {
	var j rejectJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Reject{}, fmt.Errorf("decode reject json: %w: %w", err, ErrMalformed)
	}
	r := Reject{Reason: j.Reason, Field: j.Field, Topic: j.Topic, Partition: j.Partition, Offset: j.Offset}
	if j.Raw != "" {
		r.Raw = []byte(j.Raw)
	}
	return r, nil
}
