package arrival

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestWatermarkRoundTrip(t *testing.T) {
	for _, w := range []Watermark{
		{Source: Source{"raw.clicks", 0}, Partitions: 1, At: time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC)},
		{Source: Source{"p.raw.events", 11}, Partitions: 12, At: time.Unix(0, 0).UTC()},
	} {
		got, err := ParseWatermark(AppendWatermark(nil, w))
		if err != nil || got != w {
			t.Errorf("round trip of %+v: %+v, %v", w, got, err)
		}
	}
	for name, v := range map[string][]byte{
		"empty":             nil,
		"version":           {2, 0, 1, 0, 'x'},
		"no topic":          AppendWatermark(nil, Watermark{Source: Source{"", 0}, Partitions: 1}),
		"partition past":    AppendWatermark(nil, Watermark{Source: Source{"t", 3}, Partitions: 3}),
		"absurd partitions": AppendWatermark(nil, Watermark{Source: Source{"t", 0}, Partitions: maxPartitions + 1}),
		"cut":               AppendWatermark(nil, Watermark{Source: Source{"t", 0}, Partitions: 1, At: time.Now()})[:3],
	} {
		if _, err := ParseWatermark(v); !errors.Is(err, ErrBadWatermark) {
			t.Errorf("%s: %v, want ErrBadWatermark", name, err)
		}
	}
}

// FuzzParseWatermark: a watermark header is bytes from the broker; any of
// them decodes or is refused, never panics, and what decodes encodes back
// to the same bytes.
func FuzzParseWatermark(f *testing.F) {
	f.Add(AppendWatermark(nil, Watermark{Source: Source{"raw.clicks", 2}, Partitions: 4, At: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}))
	f.Add([]byte{1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		w, err := ParseWatermark(v)
		if err != nil {
			return
		}
		if again := AppendWatermark(nil, w); !bytes.Equal(again, v) {
			w2, err := ParseWatermark(again)
			if err != nil || w2 != w {
				t.Fatalf("%x decodes to %+v, which encodes to %x (%+v, %v)", v, w, again, w2, err)
			}
		}
	})
}
