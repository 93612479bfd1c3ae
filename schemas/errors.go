package schemas

import "errors"

// Sentinel errors of the codecs. Decoders wrap them with %w, so callers test
// with errors.Is; a *FieldError additionally names the offending field.
var (
	// ErrMalformed: the bytes are not a valid encoding of the record (bad
	// JSON syntax, truncated Avro, a varint overflow, trailing bytes).
	ErrMalformed = errors.New("malformed record")
	// ErrWrongType: a field holds a value of the wrong type (revenue as a
	// string, ts as a number).
	ErrWrongType = errors.New("wrong type")
	// ErrUnknownFormat: a raw message is neither JSON, Avro single-object
	// nor (with a resolver) Confluent-framed Avro.
	ErrUnknownFormat = errors.New("unknown wire format")
	// ErrUnknownSchema: a single-object fingerprint or a Confluent schema id
	// names a schema this codec cannot decode.
	ErrUnknownSchema = errors.New("unknown schema")
	// ErrNoResolver: a Confluent-framed message arrived and no schema
	// resolver is configured.
	ErrNoResolver = errors.New("no schema resolver configured")
	// ErrRegistryUnavailable: the schema registry did not answer a schema
	// id's lookup. Not the record's fault: it must not go to a deadletter.
	ErrRegistryUnavailable = errors.New("schema registry unavailable")
	// ErrUnknownKind: an input record's kind is neither click nor event.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrBadTime: a timestamp is not an RFC 3339 time.
	ErrBadTime = errors.New("unparsable time")
)

// FieldError is a decoding error tied to one field of a record. Field is
// the JSON/Avro field name ("" when the error is about the whole record),
// Reason a short lower-case text, Err the sentinel it wraps.
type FieldError struct {
	Field  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return "field " + e.Field + ": " + e.Reason
}

func (e *FieldError) Unwrap() error { return e.Err }
