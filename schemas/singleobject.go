package schemas

import (
	"encoding/binary"
	"fmt"
)

// Avro single-object encoding: 0xC3 0x01, the schema's CRC-64-AVRO (Rabin)
// fingerprint of its canonical form in 8 little-endian bytes, then the Avro
// binary body. Internal topics use it: no registry needed.
const (
	soMagic0    = 0xC3
	soMagic1    = 0x01
	soHeaderLen = 10
)

// appendSingleObjectHeader appends the single-object header for a schema
// with fingerprint fp.
func appendSingleObjectHeader(b []byte, fp uint64) []byte {
	b = append(b, soMagic0, soMagic1)
	return binary.LittleEndian.AppendUint64(b, fp)
}

// SplitSingleObject returns the schema fingerprint and the Avro body of a
// single-object encoded message.
func SplitSingleObject(b []byte) (fingerprint uint64, body []byte, err error) {
	if len(b) < soHeaderLen || b[0] != soMagic0 || b[1] != soMagic1 {
		return 0, nil, fmt.Errorf("not a single-object message: %w", ErrMalformed)
	}
	return binary.LittleEndian.Uint64(b[2:soHeaderLen]), b[soHeaderLen:], nil
}
