package schemas

import (
	"fmt"
)

// DecodeRawSingleObject decodes a raw click or event in Avro single-object
// encoding, written with ClickAvro, EventAvro or InputAvro. Other
// fingerprints fail with ErrUnknownSchema: single-object messages carry no
// registry, so only the schemas built into this binary can be read.
func DecodeRawSingleObject(b []byte) (Input, error) {
	fp, body, err := SplitSingleObject(b)
	if err != nil {
		return Input{}, err
	}
	in, ok, err := decodeKnownBody(fp, body)
	if !ok {
		return Input{}, fmt.Errorf("single-object fingerprint %#016x is not click, event or input: %w", fp, ErrUnknownSchema)
	}
	return in, err
}

// DecodeRawConfluent decodes a raw click or event in Confluent wire format,
// with the writer schema that resolve returns for the frame's schema id.
// Records written with this binary's Click, Event or Input schema take the
// fast path; any other writer schema is read through goavro and mapped by
// field name (a record with event_id is an event, one with click_id a
// click), so producers may use their own compatible schemas.
func DecodeRawConfluent(b []byte, resolve Resolver) (Input, error) {
	if resolve == nil {
		return Input{}, fmt.Errorf("confluent-framed message: %w", ErrNoResolver)
	}
	id, body, err := SplitConfluent(b)
	if err != nil {
		return Input{}, err
	}
	codec, err := resolve(id)
	if err != nil {
		return Input{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	if codec == nil {
		return Input{}, fmt.Errorf("schema id %d: %w", id, ErrUnknownSchema)
	}
	if in, ok, err := decodeKnownBody(codec.Rabin, body); ok {
		return in, err
	}
	native, rest, err := codec.NativeFromBinary(body)
	if err != nil {
		return Input{}, fmt.Errorf("schema id %d: %v: %w", id, err, ErrMalformed)
	}
	if len(rest) != 0 {
		return Input{}, fmt.Errorf("schema id %d: %d trailing bytes: %w", id, len(rest), ErrMalformed)
	}
	return inputFromNative(native)
}

// decodeKnownBody decodes body when fp is one of the built-in raw schemas;
// ok is false for any other fingerprint.
func decodeKnownBody(fp uint64, body []byte) (in Input, ok bool, err error) {
	// Producers built on an older schema (v1 or v2) still send it.
	if v, ok := inputLayouts.of(fp); ok {
		in, err = decodeInputAvro(body, v)
		return in, true, err
	}
	if v, ok := clickLayouts.of(fp); ok {
		r := avroReader{b: body}
		c := r.click(v)
		if err := r.end(); err != nil {
			return Input{}, true, fmt.Errorf("decode click: %w", err)
		}
		return Input{Click: &c}, true, nil
	}
	if v, ok := eventLayouts.of(fp); ok {
		r := avroReader{b: body}
		e := r.event(v)
		if err := r.end(); err != nil {
			return Input{}, true, fmt.Errorf("decode event: %w", err)
		}
		return Input{Event: &e}, true, nil
	}
	return Input{}, false, nil
}
