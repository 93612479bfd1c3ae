package schemas

import "fmt"

// Reject is a raw record refused by normalize, the record of the
// dead-letter topic: why, which field, the raw bytes as received and where
// they came from, so the record can be fixed and replayed.
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
