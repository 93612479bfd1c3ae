package replay

import (
	"bytes"
	"context"
	"testing"
)

// TestCacheSizeDoesNotChangeOutput replays one stream with a cache that
// holds every device and with caches far smaller than the devices (state
// spilled to Badger and read back): the records must be identical.
func TestCacheSizeDoesNotChangeOutput(t *testing.T) {
	var in bytes.Buffer
	generate(&in, 10000, 1000)
	var want []byte
	for _, entries := range []int{100000, 300, 7} {
		var out bytes.Buffer
		stats, err := Run(context.Background(), Config{CacheEntries: entries, BatchSize: 512}, bytes.NewReader(in.Bytes()), &out, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Records == 0 {
			t.Fatal("no records")
		}
		if want == nil {
			want = out.Bytes()
			continue
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("cache of %d entries: output differs from a cache holding every device", entries)
		}
	}
}
