package schemas

import "fmt"

// AppendClassifiedAvro appends the Avro binary body of c (schema
// ClassifiedAvro), for single-object or Confluent framing.
func AppendClassifiedAvro(dst []byte, c *Classified) []byte {
	b := appendAvroString(dst, c.PostbackID)
	b = appendAvroString(b, c.Type)
	b = appendAvroString(b, c.EventID)
	b = appendAvroString(b, c.AppID)
	b = appendAvroString(b, c.Platform)
	b = appendAvroString(b, c.DeviceID)
	b = appendAvroString(b, c.UserID)
	b = appendMicros(b, c.EventTS)
	b = appendAvroString(b, c.Name)
	b = appendOptionalDouble(b, c.Revenue)
	b = appendAvroString(b, c.Currency)
	b = appendAvroString(b, c.TransactionID)
	b = appendStringMap(b, c.Params)
	b = appendAttributionAvro(b, &c.Attribution)
	return appendBoolean(b, c.TSAdjusted)
}

// EncodeClassified appends c as a single-object encoded ClassifiedAvro
// message. It cannot fail today; the error is there for schema changes.
func EncodeClassified(dst []byte, c *Classified) ([]byte, error) {
	return AppendClassifiedAvro(appendSingleObjectHeader(dst, ClassifiedAvro.Fingerprint), c), nil
}

// DecodeClassifiedAvro decodes an Avro binary body of schema ClassifiedAvro.
func DecodeClassifiedAvro(body []byte) (Classified, error) {
	return decodeClassifiedAvro(body, schemaV2)
}

func decodeClassifiedAvro(body []byte, v schemaVersion) (Classified, error) {
	r := avroReader{b: body}
	c := Classified{
		PostbackID:    r.string(),
		Type:          r.string(),
		EventID:       r.string(),
		AppID:         r.string(),
		Platform:      r.string(),
		DeviceID:      r.string(),
		UserID:        r.string(),
		EventTS:       r.micros(),
		Name:          r.string(),
		Revenue:       r.optionalDouble(),
		Currency:      r.string(),
		TransactionID: r.string(),
		Params:        r.stringMap(),
		Attribution:   r.attribution(),
	}
	if v >= schemaV2 {
		c.TSAdjusted = r.boolean()
	}
	if err := r.end(); err != nil {
		return Classified{}, fmt.Errorf("decode classified: %w", err)
	}
	return c, nil
}

// DecodeClassified decodes a single-object encoded ClassifiedAvro message.
func DecodeClassified(b []byte) (Classified, error) {
	body, v, err := versionedBody(b, ClassifiedAvro, classifiedV1Fingerprint)
	if err != nil {
		return Classified{}, err
	}
	return decodeClassifiedAvro(body, v)
}
