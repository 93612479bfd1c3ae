package schemas

import "fmt"

// AppendInputAvro appends the Avro binary body of in (schema InputAvro).
// Exactly one of Click and Event must be set.
func AppendInputAvro(dst []byte, in *Input) ([]byte, error) {
	switch {
	case in.Click != nil && in.Event != nil:
		return dst, fmt.Errorf("encode input: both click and event set: %w", ErrMalformed)
	case in.Click != nil:
		return append(appendClickAvro(append(dst, 2), in.Click), 0, 0), nil // click: branch 1, event: null, ts_adjusted false
	case in.Event != nil:
		return appendBoolean(appendEventAvro(append(dst, 0, 2), in.Event), in.Event.TSAdjusted), nil
	default:
		return dst, fmt.Errorf("encode input: neither click nor event set: %w", ErrMalformed)
	}
}

// EncodeInput appends in as a single-object encoded InputAvro message, the
// form of the device stream (events.by-device).
func EncodeInput(dst []byte, in *Input) ([]byte, error) {
	return AppendInputAvro(appendSingleObjectHeader(dst, InputAvro.Fingerprint), in)
}

// DecodeInputAvro decodes an Avro binary body of schema InputAvro.
func DecodeInputAvro(body []byte) (Input, error) {
	return decodeInputAvro(body, schemaV2)
}

func decodeInputAvro(body []byte, v schemaVersion) (Input, error) {
	r := avroReader{b: body}
	in := r.input()
	if v >= schemaV2 {
		adjusted := r.boolean()
		if in.Event != nil {
			in.Event.TSAdjusted = adjusted
		}
	}
	if err := r.end(); err != nil {
		return Input{}, fmt.Errorf("decode input: %w", err)
	}
	if (in.Click == nil) == (in.Event == nil) {
		return Input{}, fmt.Errorf("decode input: want exactly one of click and event: %w", ErrMalformed)
	}
	return in, nil
}

func (r *avroReader) input() Input {
	var in Input
	if r.union(2) == 1 {
		c := r.click()
		in.Click = &c
	}
	if r.union(2) == 1 {
		e := r.event()
		in.Event = &e
	}
	return in
}

// DecodeInput decodes a single-object encoded InputAvro message.
func DecodeInput(b []byte) (Input, error) {
	body, v, err := versionedBody(b, InputAvro, inputV1Fingerprint)
	if err != nil {
		return Input{}, err
	}
	return decodeInputAvro(body, v)
}

// singleObjectBody checks the single-object header of b against s.
func singleObjectBody(b []byte, s *AvroSchema) ([]byte, error) {
	fp, body, err := SplitSingleObject(b)
	if err != nil {
		return nil, err
	}
	if fp != s.Fingerprint {
		return nil, fmt.Errorf("fingerprint %#016x is not %s: %w", fp, s.Name, ErrUnknownSchema)
	}
	return body, nil
}
