package schemas

import (
	"encoding/binary"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// Confluent wire format: 0x00, the registry's schema id as a 4-byte
// big-endian integer, then the Avro binary body.
const (
	confluentMagic     = 0x00
	confluentHeaderLen = 5
)

// Resolver returns the codec of a Confluent schema registry id. Registry
// lookups (and their caching) live with the caller; a Resolver must be safe
// for concurrent use.
type Resolver func(id int) (*goavro.Codec, error)

// AppendConfluentHeader appends the Confluent wire-format header for schema
// id; append the Avro binary body after it.
func AppendConfluentHeader(dst []byte, id int) []byte {
	dst = append(dst, confluentMagic)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// SplitConfluent returns the schema id and the Avro body of a
// Confluent-framed message.
func SplitConfluent(b []byte) (id int, body []byte, err error) {
	if len(b) < confluentHeaderLen || b[0] != confluentMagic {
		return 0, nil, fmt.Errorf("not a confluent-framed message: %w", ErrMalformed)
	}
	return int(binary.BigEndian.Uint32(b[1:confluentHeaderLen])), b[confluentHeaderLen:], nil
}

// EncodeClassifiedConfluent appends c in Confluent wire format with schema
// id, the id of ClassifiedAvro in the registry.
func EncodeClassifiedConfluent(dst []byte, id int, c *Classified) []byte {
	return AppendClassifiedAvro(AppendConfluentHeader(dst, id), c)
}

// EncodeDeliveryLogConfluent is EncodeClassifiedConfluent for the delivery
// log (DeliveryLogAvro's id).
func EncodeDeliveryLogConfluent(dst []byte, id int, d *DeliveryLog) []byte {
	return AppendDeliveryLogAvro(AppendConfluentHeader(dst, id), d)
}

// EncodeRejectConfluent is EncodeClassifiedConfluent for deadletter records
// (RejectAvro's id).
func EncodeRejectConfluent(dst []byte, id int, r *Reject) []byte {
	return AppendRejectAvro(AppendConfluentHeader(dst, id), r)
}

// DecodeClassifiedConfluent decodes a Confluent-framed classified record
// written with one of postbackd's Classified schemas (any version), which
// resolve returns for the frame's id. Another writer schema fails with
// ErrUnknownSchema: the sink reads only what postbackd's stages wrote.
func DecodeClassifiedConfluent(b []byte, resolve Resolver) (Classified, error) {
	if resolve == nil {
		return Classified{}, fmt.Errorf("confluent-framed classified record: %w", ErrNoResolver)
	}
	id, body, err := SplitConfluent(b)
	if err != nil {
		return Classified{}, err
	}
	codec, err := resolve(id)
	if err != nil {
		return Classified{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	v, ok := classifiedLayouts.of(codec.Rabin)
	if !ok {
		return Classified{}, fmt.Errorf("schema id %d is not a postbackd Classified schema: %w", id, ErrUnknownSchema)
	}
	return decodeClassifiedAvro(body, v)
}

// DecodeDeliveryLogConfluent is DecodeClassifiedConfluent for the delivery
// log: a Confluent-framed entry written with one of postbackd's
// DeliveryLog schemas.
func DecodeDeliveryLogConfluent(b []byte, resolve Resolver) (DeliveryLog, error) {
	if resolve == nil {
		return DeliveryLog{}, fmt.Errorf("confluent-framed delivery-log entry: %w", ErrNoResolver)
	}
	id, body, err := SplitConfluent(b)
	if err != nil {
		return DeliveryLog{}, err
	}
	codec, err := resolve(id)
	if err != nil {
		return DeliveryLog{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	v, ok := deliveryLogLayouts.of(codec.Rabin)
	if !ok {
		return DeliveryLog{}, fmt.Errorf("schema id %d is not a postbackd DeliveryLog schema: %w", id, ErrUnknownSchema)
	}
	return decodeDeliveryLogAvro(body, v)
}
