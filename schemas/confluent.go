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
