package schemas

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Hand-written Avro binary encoding for postbackd's fixed schemas.
//
// Why not goavro's generic codec on the hot path: its map-based codec takes
// several times the time and allocations of this one for a classified
// record (BenchmarkClassifiedGoavro against BenchmarkClassifiedAvro; the
// figures are in docs/ARCHITECTURE.md, "Measurements"). The bytes are the Avro binary
// encoding of the embedded .avsc schemas: TestAvroCompat encodes with one
// implementation and decodes with the other, both ways, on random records.

func appendLong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func appendInt(b []byte, v int) []byte { return appendLong(b, int64(int32(v))) }

func appendAvroString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

func appendAvroBytes(b []byte, p []byte) []byte {
	b = appendLong(b, int64(len(p)))
	return append(b, p...)
}

func appendDouble(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// appendOptionalDouble encodes a ["null","double"] union.
func appendOptionalDouble(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, 0)
	}
	return appendDouble(append(b, 2), *f)
}

// appendStringMap encodes a map<string> as one block, keys sorted so that
// equal records give equal bytes (replays must be byte-identical).
func appendStringMap(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return append(b, 0)
	}
	b = appendLong(b, int64(len(m)))
	for _, k := range sortedKeys(m) {
		b = appendAvroString(b, k)
		b = appendAvroString(b, m[k])
	}
	return append(b, 0)
}

func appendMicros(b []byte, t time.Time) []byte { return appendLong(b, t.UnixMicro()) }
func appendMillis(b []byte, t time.Time) []byte { return appendLong(b, t.UnixMilli()) }

// avroReader decodes Avro binary from untrusted bytes. The first error
// sticks: later reads return zero values, so record decoders read every
// field and check err once at the end.
type avroReader struct {
	b   []byte
	err error
}

func (r *avroReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("avro: "+format+": %w", append(args, ErrMalformed)...)
	}
	r.b = nil
}

func (r *avroReader) long() int64 {
	if r.err != nil {
		return 0
	}
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return int64(u>>1) ^ -int64(u&1)
}

func (r *avroReader) int() int {
	v := r.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int out of range")
		return 0
	}
	return int(v)
}

// rawBytes returns the next length-prefixed bytes without copying.
func (r *avroReader) rawBytes() []byte {
	n := r.long()
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)) {
		r.fail("length %d out of range", n)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *avroReader) string() string { return internString(r.rawBytes()) }

func (r *avroReader) bytes() []byte {
	p := r.rawBytes()
	if len(p) == 0 {
		return nil
	}
	return append([]byte{}, p...)
}

func (r *avroReader) double() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("short double")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

// union reads a union branch index and checks it is below n.
func (r *avroReader) union(n int64) int64 {
	i := r.long()
	if r.err == nil && (i < 0 || i >= n) {
		r.fail("union index %d out of range", i)
		return 0
	}
	return i
}

func (r *avroReader) optionalDouble() *float64 {
	if r.union(2) == 0 || r.err != nil {
		return nil
	}
	f := r.double()
	return &f
}

// stringMap reads a map<string>, in any blocking a writer chose (negative
// block counts carry a byte size, which is skipped). An empty map is nil.
func (r *avroReader) stringMap() map[string]string {
	var m map[string]string
	for r.err == nil {
		count := r.long()
		if count == 0 {
			break
		}
		if count < 0 {
			if count == math.MinInt64 {
				r.fail("bad map block count")
				break
			}
			count = -count
			r.long() // block size in bytes
		}
		// Each entry takes at least two bytes: bound the count before it
		// sizes an allocation.
		if count > int64(len(r.b))/2 {
			r.fail("map block count %d exceeds input", count)
			break
		}
		if m == nil {
			m = make(map[string]string, count)
		}
		for ; count > 0 && r.err == nil; count-- {
			k := r.string()
			m[k] = r.string()
		}
	}
	if r.err != nil {
		return nil
	}
	return m
}

func (r *avroReader) micros() time.Time { return time.UnixMicro(r.long()).UTC() }

// appendOptionalMicros encodes a ["null", timestamp-micros] union: the zero
// time is null.
func appendOptionalMicros(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return appendMicros(append(b, 2), t)
}

func (r *avroReader) optionalMicros() time.Time {
	if r.union(2) == 0 || r.err != nil {
		return time.Time{}
	}
	return r.micros()
}
func (r *avroReader) millis() time.Time { return time.UnixMilli(r.long()).UTC() }

// end fails when bytes are left after a record: a message is one datum.
func (r *avroReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// internString returns the constant for common enum-like values (types,
// platforms, touches, currencies seen most) so decoding them allocates
// nothing; other values are copied.
func internString(p []byte) string {
	switch string(p) {
	case "":
		return ""
	case TouchClick:
		return TouchClick
	case TouchImpression:
		return TouchImpression
	case TouchOrganic:
		return TouchOrganic
	case PlatformAndroid:
		return PlatformAndroid
	case PlatformIOS:
		return PlatformIOS
	case PlatformWeb:
		return PlatformWeb
	case EventInstall:
		return EventInstall
	case EventLaunch:
		return EventLaunch
	case EventVisit:
		return EventVisit
	case EventRegistration:
		return EventRegistration
	case EventLogin:
		return EventLogin
	case EventPurchase:
		return EventPurchase
	case EventCustomRevenue:
		return EventCustomRevenue
	case EventCustomEvent:
		return EventCustomEvent
	case "USD":
		return "USD"
	case "EUR":
		return "EUR"
	}
	if len(p) > 0 && p[0] >= 'f' && p[0] <= 't' {
		if t, ok := recordTypeOf(p); ok {
			return t
		}
	}
	return string(p)
}

// recordTypeOf interns the classified record types.
func recordTypeOf(p []byte) (string, bool) {
	for _, t := range RecordTypes {
		if t == string(p) {
			return t, true
		}
	}
	return "", false
}
