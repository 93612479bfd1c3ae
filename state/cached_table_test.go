package state

import (
	"fmt"
	"testing"
)

// TestClockTableRemoveKeepsIndex removes keys from the middle, the end and
// under the hand, and checks every remaining key still finds its value.
func TestClockTableRemoveKeepsIndex(t *testing.T) {
	tb := newClockTable(10)
	for i := 0; i < 10; i++ {
		tb.put([]byte(fmt.Sprint(i)), []byte(fmt.Sprint("v", i)), true, false)
	}
	tb.hand = 9
	for _, k := range []string{"3", "9", "0", "nope"} {
		tb.remove([]byte(k))
	}
	if len(tb.slots) != 7 || len(tb.index) != 7 || tb.hand >= len(tb.slots) {
		t.Fatalf("slots %d index %d hand %d", len(tb.slots), len(tb.index), tb.hand)
	}
	for _, k := range []string{"1", "2", "4", "5", "6", "7", "8"} {
		s := tb.get([]byte(k))
		if s == nil || string(s.val) != "v"+k {
			t.Fatalf("key %s: %+v", k, s)
		}
	}
	var want int64
	for _, s := range tb.slots {
		want += int64(len(s.key) + cap(s.val))
	}
	if tb.bytes != want {
		t.Fatalf("bytes %d, want %d", tb.bytes, want)
	}
	// Full again, then one more: exactly one eviction.
	tb.put([]byte("a"), nil, false, false)
	tb.put([]byte("b"), nil, false, false)
	tb.put([]byte("c"), nil, false, false)
	if ev, _ := tb.put([]byte("d"), []byte("x"), true, false); !ev || len(tb.slots) != 10 {
		t.Fatal("a put into a full table must evict")
	}
}
