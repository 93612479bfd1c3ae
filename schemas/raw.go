package schemas

import "fmt"

// DecodeRawSingleObject decodes a raw click or event in Avro single-object
// encoding, written with the Click or Event schema (or the device-stream
// Input schema).
func DecodeRawSingleObject(b []byte) (Input, error) {
	return Input{}, fmt.Errorf("single-object raw input: %w", ErrUnknownSchema)
}

// DecodeRawConfluent decodes a raw click or event in Confluent wire format,
// with the writer schema that resolve returns for the frame's schema id.
func DecodeRawConfluent(b []byte, resolve Resolver) (Input, error) {
	return Input{}, fmt.Errorf("confluent raw input: %w", ErrUnknownSchema)
}
