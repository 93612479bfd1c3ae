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

// TestClockTableHashCollisions gives keys few hashes, so that most of them
// collide, and checks that puts, gets, evictions and removes still find
// exactly the right values against a plain map.
func TestClockTableHashCollisions(t *testing.T) {
	tb := newClockTable(16)
	tb.hashOf = func(key []byte) uint64 { return uint64(len(key) % 3) }
	model := map[string]string{}
	for step := 0; step < 2000; step++ {
		k := fmt.Sprint("k", (step*7919)%40)
		switch step % 5 {
		case 0:
			tb.remove([]byte(k))
			delete(model, k)
		default:
			v := fmt.Sprint("v", step)
			if _, err := tb.put([]byte(k), []byte(v), true, false); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		}
		// Every key the table holds has its latest value, and the two
		// indexes together cover exactly the slots.
		if n := len(tb.index) + len(tb.overflow); n != len(tb.slots) {
			t.Fatalf("step %d: %d indexed, %d slots", step, n, len(tb.slots))
		}
		for _, s := range tb.slots {
			if got := tb.get([]byte(s.key)); got == nil || string(got.val) != model[s.key] {
				t.Fatalf("step %d: key %s: got %+v, want %q", step, s.key, got, model[s.key])
			}
		}
	}
	if len(tb.overflow) == 0 {
		t.Fatal("the test should have made collisions")
	}
}
