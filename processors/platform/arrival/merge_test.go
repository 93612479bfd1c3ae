package arrival

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func rec(topic string, rank, part int, off int64, at time.Duration) Record[string] {
	return Record[string]{Source: Source{topic, part}, Key: Key{Arrival: t0.Add(at), Rank: rank, Partition: part, Offset: off}, Size: 100, V: topic}
}

// TestMergeOrdersByArrivalWhateverDrainsFirst: the records of several
// source partitions, each in its own order, come in any interleaving (a
// backlog of clicks read after the events, or the other way round); with
// each source's watermark at the end, the merge releases them all in key
// order (arrival; equal times: clicks first), none forced or late. As a
// property over random streams.
func TestMergeOrdersByArrivalWhateverDrainsFirst(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 11))
		m := New[string](Config{MaxWait: time.Hour})
		m.Expect("clicks", 2)
		m.Expect("events", 3)
		type src struct {
			topic string
			rank  int
			part  int
			recs  []Record[string]
		}
		var srcs []*src
		for _, s := range []struct {
			topic string
			rank  int
			n     int
		}{{"clicks", 0, 2}, {"events", 1, 3}} {
			for p := range s.n {
				x := &src{topic: s.topic, rank: s.rank, part: p}
				at := time.Duration(rng.IntN(5)) * time.Second
				for off := range int64(rng.IntN(30)) {
					at += time.Duration(rng.IntN(3)) * time.Second // equal times too
					x.recs = append(x.recs, rec(s.topic, s.rank, p, off, at))
				}
				srcs = append(srcs, x)
			}
		}
		var all []Record[string]
		for _, x := range srcs {
			all = append(all, x.recs...)
			if len(x.recs) == 0 { // an idle partition: caught up from the start
				m.Watermark(Source{x.topic, x.part}, t0.Add(24*time.Hour))
			}
		}
		var out []Record[string]
		var why []Released
		now := t0
		for {
			var live []*src
			for _, x := range srcs {
				if len(x.recs) > 0 {
					live = append(live, x)
				}
			}
			if len(live) == 0 {
				break
			}
			x := live[rng.IntN(len(live))]
			n := 1 + rng.IntN(len(x.recs))
			for _, r := range x.recs[:n] {
				m.Add(r, now)
			}
			if len(x.recs[n:]) == 0 {
				m.Watermark(Source{x.topic, x.part}, t0.Add(24*time.Hour))
			} else {
				m.Watermark(Source{x.topic, x.part}, x.recs[n-1].Key.Arrival)
			}
			x.recs = x.recs[n:]
			out, why = m.Release(now, out, why)
		}
		if m.Len() != 0 {
			t.Fatalf("seed %d: %d records still wait after every watermark", seed, m.Len())
		}
		slices.SortFunc(all, func(a, b Record[string]) int {
			if a.Key.Less(b.Key) {
				return -1
			}
			if b.Key.Less(a.Key) {
				return 1
			}
			return 0
		})
		if len(out) != len(all) {
			t.Fatalf("seed %d: released %d of %d", seed, len(out), len(all))
		}
		for i := range all {
			if out[i].Key != all[i].Key || why[i] != InOrder {
				t.Fatalf("seed %d: record %d released %+v (%v), want %+v in order", seed, i, out[i].Key, why[i], all[i].Key)
			}
		}
	}
}

// TestMergeWaitsForASilentSourceAtMostMaxWait: a source that neither
// sends nor advances its watermark holds records back, for MaxWait of
// wall clock at the most; then they go, forced.
func TestMergeWaitsForASilentSourceAtMostMaxWait(t *testing.T) {
	m := New[string](Config{MaxWait: 10 * time.Second})
	m.Expect("clicks", 1)
	m.Expect("events", 1)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m.Add(rec("events", 1, 0, 0, time.Minute), now)
	if out, _ := m.Release(now.Add(9*time.Second), nil, nil); len(out) != 0 {
		t.Fatalf("released %d records while the clicks source was silent for less than MaxWait", len(out))
	}
	out, why := m.Release(now.Add(10*time.Second), nil, nil)
	if len(out) != 1 || why[0] != Forced {
		t.Fatalf("after MaxWait: %d records (%v), want the event, forced", len(out), why)
	}
	// The clicks source then catches up with an older click: late.
	m.Add(rec("clicks", 0, 0, 0, 30*time.Second), now.Add(11*time.Second))
	out, why = m.Release(now.Add(11*time.Second), nil, nil)
	if len(out) != 1 || why[0] != Late {
		t.Fatalf("an older click after the event: %d records (%v), want it late", len(out), why)
	}
}

// TestMergeWatermarkReleasesWithoutRecords: an idle source that advances
// its watermark (its partition is caught up) lets the others' records go
// in order at once.
func TestMergeWatermarkReleasesWithoutRecords(t *testing.T) {
	m := New[string](Config{MaxWait: time.Hour})
	m.Expect("clicks", 1)
	m.Expect("events", 1)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m.Add(rec("events", 1, 0, 0, time.Minute), now)
	m.Watermark(Source{"clicks", 0}, t0.Add(time.Minute)) // equal time: a click of that time could still come first
	if out, _ := m.Release(now, nil, nil); len(out) != 0 {
		t.Fatal("released an event at the clicks' watermark: a click of the same time sorts first")
	}
	m.Watermark(Source{"clicks", 0}, t0.Add(time.Minute+time.Millisecond))
	if low, ok := m.Low(); !ok || !low.Equal(t0.Add(time.Minute)) {
		t.Errorf("Low = %v %v, want the waiting event's arrival", low, ok)
	}
	if out, why := m.Release(now, nil, nil); len(out) != 1 || why[0] != InOrder {
		t.Fatalf("after the clicks' watermark passed the event: %d (%v), want it in order", len(out), why)
	}
}

// TestMergeBounds: past MaxRecords or MaxBytes the smallest records are
// released, forced, until the merge is within them again.
func TestMergeBounds(t *testing.T) {
	m := New[string](Config{MaxWait: time.Hour, MaxRecords: 3, MaxBytes: 1 << 20})
	m.Expect("clicks", 1)
	m.Expect("events", 1)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range int64(5) {
		m.Add(rec("events", 1, 0, i, time.Duration(i)*time.Second), now)
	}
	out, why := m.Release(now, nil, nil)
	if len(out) != 2 || m.Len() != 3 || why[0] != Forced || out[0].Key.Offset != 0 || out[1].Key.Offset != 1 {
		t.Fatalf("released %d (%v), %d wait; want the 2 oldest forced and 3 waiting", len(out), why, m.Len())
	}
	if m.Bytes() != 300 {
		t.Errorf("Bytes = %d, want 300", m.Bytes())
	}
}

// TestMergeDropsRepeatsOfWaitingRecords: a record its source already has
// waiting (normalize wrote it again after a crash) is not queued twice.
func TestMergeDropsRepeatsOfWaitingRecords(t *testing.T) {
	m := New[string](Config{})
	m.Expect("events", 1)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if !m.Add(rec("events", 1, 0, 5, 0), now) || !m.Add(rec("events", 1, 0, 6, time.Second), now) {
		t.Fatal("fresh records refused")
	}
	if m.Add(rec("events", 1, 0, 5, 0), now) || m.Add(rec("events", 1, 0, 6, time.Second), now) || m.Len() != 2 {
		t.Fatalf("repeats queued: %d waiting", m.Len())
	}
}
