package arrival

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// WatermarkHeader names the header of a watermark record: a control
// record, with no value, that the stage reading the raw topics sends to
// every partition of the stage keyed by device, saying how far one raw
// partition has got. It carries the partition's topic, number and the
// topic's partition count (the merge must hear from every one), and the
// arrival time before which the partition will send nothing more.
const WatermarkHeader = "postbackd-watermark"

// Watermark is what a watermark record says.
type Watermark struct {
	Source     Source
	Partitions int // of Source.Topic
	At         time.Time
}

// ErrBadWatermark: a watermark header that does not decode.
var ErrBadWatermark = errors.New("bad watermark header")

// watermarkVersion heads the value, so the encoding can change.
const watermarkVersion = 1

// maxPartitions bounds a watermark's partition fields: far above any
// topic's, far below what would make the merge expect absurd sources.
const maxPartitions = 1 << 20

// AppendWatermark appends the header value of w to b:
// version u8 | partition uvarint | partitions uvarint | at (Unix ns) varint | topic.
func AppendWatermark(b []byte, w Watermark) []byte {
	b = append(b, watermarkVersion)
	b = binary.AppendUvarint(b, uint64(w.Source.Partition))
	b = binary.AppendUvarint(b, uint64(w.Partitions))
	b = binary.AppendVarint(b, w.At.UnixNano())
	return append(b, w.Source.Topic...)
}

// ParseWatermark decodes a header value of AppendWatermark.
func ParseWatermark(v []byte) (Watermark, error) {
	if len(v) == 0 || v[0] != watermarkVersion {
		return Watermark{}, fmt.Errorf("%w: version", ErrBadWatermark)
	}
	v = v[1:]
	var f [2]uint64
	for i := range f {
		u, n := binary.Uvarint(v)
		if n <= 0 || u > maxPartitions {
			return Watermark{}, fmt.Errorf("%w: field %d", ErrBadWatermark, i)
		}
		f[i], v = u, v[n:]
	}
	at, n := binary.Varint(v)
	if n <= 0 {
		return Watermark{}, fmt.Errorf("%w: time", ErrBadWatermark)
	}
	v = v[n:]
	w := Watermark{Source: Source{Topic: string(v), Partition: int(f[0])}, Partitions: int(f[1]), At: time.Unix(0, at).UTC()}
	if w.Source.Topic == "" || w.Source.Partition >= w.Partitions {
		return Watermark{}, fmt.Errorf("%w: partition %d of %d of topic %q", ErrBadWatermark, w.Source.Partition, w.Partitions, w.Source.Topic)
	}
	return w, nil
}
