package schemas

// Format is the wire format of one raw message, detected from its first
// bytes so that one raw topic can mix producers.
type Format int

// Wire formats of raw messages.
const (
	FormatUnknown      Format = iota
	FormatJSON                // '{' after optional JSON whitespace
	FormatSingleObject        // 0xC3 0x01 + 8-byte fingerprint + Avro body
	FormatConfluent           // 0x00 + 4-byte schema id + Avro body
)

func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatSingleObject:
		return "avro single-object"
	case FormatConfluent:
		return "confluent avro"
	default:
		return "unknown"
	}
}

// DetectFormat tells the wire format of a raw message from its header. A
// Confluent frame is only recognised with its full 5-byte header; whether
// Confluent input is accepted at all is the caller's choice (it needs a
// schema resolver).
func DetectFormat(b []byte) Format {
	if len(b) >= soHeaderLen && b[0] == soMagic0 && b[1] == soMagic1 {
		return FormatSingleObject
	}
	if len(b) >= confluentHeaderLen && b[0] == confluentMagic {
		return FormatConfluent
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return FormatJSON
		}
		return FormatUnknown
	}
	return FormatUnknown
}
