package classify

import (
	"fmt"
	"math/rand"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

const benchDevices = 100000

var benchStream = sync.OnceValue(func() []schemas.Input {
	r := rand.New(rand.NewSource(1))
	out := make([]schemas.Input, 1<<20)
	now := t0
	for i := range out {
		now = now.Add(time.Duration(r.Int63n(int64(10 * time.Second))))
		dev := fmt.Sprintf("6f1c2d9e-device-%06d", r.Intn(benchDevices))
		if i%5 == 0 {
			out[i] = schemas.Input{Click: &schemas.Click{ClickID: fmt.Sprintf("click-%d", i), Touch: schemas.TouchClick,
				Partner: "adnet", Campaign: "spring", AppID: app, DeviceID: dev, TS: now.Add(-time.Hour)}}
			continue
		}
		in := eventAt(fmt.Sprintf("3b2a9c1e-event-%d", i), eventTypes[r.Intn(len(eventTypes))], now)
		in.Event.DeviceID = dev
		if i%2 == 0 {
			in.Event.UserID = "user-" + dev
		}
		out[i] = in
	}
	return out
})

// benchmarkDevice classifies batches of 4096 records and applies their
// writes, as the device stage does, and reports records per second.
func benchmarkDevice(b *testing.B, st state.Store) {
	stream := benchStream()
	d := NewDevice(nil)
	const batchSize = 4096
	b.ReportAllocs()
	b.ResetTimer()
	start, startCPU := time.Now(), cpuTime()
	done := 0
	var batch state.Batch
	for done < b.N {
		off := done % len(stream)
		n := min(batchSize, b.N-done, len(stream)-off)
		res, err := d.Classify(st, stream[off:off+n])
		if err != nil {
			b.Fatal(err)
		}
		batch.Writes = res.Writes
		batch.SetOffset("p0", int64(done+n))
		if err := st.Apply(&batch); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-startCPU).Seconds(), "events/cpu-s")
}

// cpuTime is the process's user+system CPU time. On a shared machine wall
// time measures the neighbours; events per CPU second measures the code
// (Badger's own goroutines included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCacheEntries holds every device of the stream (100,000) with room
// to spare, as replay sizes its caches.
const benchCacheEntries = 200000

// BenchmarkDeviceClassifyBadger is the production setup: Badger behind a
// state.Cached that starts complete (fresh store), so Gets never reach
// Badger and Badger only pays for Apply.
func BenchmarkDeviceClassifyBadger(b *testing.B) {
	st := state.NewCached(openBadger(b), benchCacheEntries)
	benchmarkDevice(b, st)
	reportCache(b, st)
}

// BenchmarkDeviceClassifyBadgerCachedCold is a cache over a store that
// already held state (a restored partition): it cannot trust its misses,
// so each device's first Get reads Badger.
func BenchmarkDeviceClassifyBadgerCachedCold(b *testing.B) {
	inner := openBadger(b)
	var seed state.Batch
	seed.Set([]byte("seed"), []byte("x"))
	if err := inner.Apply(&seed); err != nil {
		b.Fatal(err)
	}
	st := state.NewCached(inner, benchCacheEntries)
	benchmarkDevice(b, st)
	reportCache(b, st)
}

// BenchmarkDeviceClassifyBadgerSmallCache evicts: a cache of a fifth of
// the devices, the case of a partition with more devices than its cache.
func BenchmarkDeviceClassifyBadgerSmallCache(b *testing.B) {
	st := state.NewCached(openBadger(b), benchDevices/5)
	benchmarkDevice(b, st)
	reportCache(b, st)
}

// BenchmarkDeviceClassifyBadgerWriteBack is replay's setup: writes stay in
// the cache until evicted, so a working set that fits never writes Badger.
// Not for a stage: it gives up Apply's crash atomicity.
func BenchmarkDeviceClassifyBadgerWriteBack(b *testing.B) {
	st := state.NewWriteBack(openBadger(b), benchCacheEntries)
	benchmarkDevice(b, st)
	reportCache(b, st)
}

// BenchmarkDeviceClassifyBadgerUncached is plain Badger, the baseline the
// cache is measured against.
func BenchmarkDeviceClassifyBadgerUncached(b *testing.B) {
	benchmarkDevice(b, openBadger(b))
}

func reportCache(b *testing.B, st *state.Cached) {
	s := st.Stats()
	if gets := s.Hits + s.Complete + s.Misses; gets > 0 {
		b.ReportMetric(float64(s.Misses)/float64(gets), "miss-ratio")
	}
}

func BenchmarkDeviceClassifyMemory(b *testing.B) {
	benchmarkDevice(b, state.NewMemory())
}

func BenchmarkDeviceStateCodec(b *testing.B) {
	s := deviceState{flags: flagKnown | flagHasActivity, lastActivity: 5e18, newestEvent: 5e18, newestSeen: 5e18,
		first:   schemas.Attribution{Touch: schemas.TouchClick, ClickID: "click-123456", Partner: "adnet", Campaign: "spring"},
		current: schemas.Attribution{Touch: schemas.TouchClick, ClickID: "click-123456", Partner: "adnet", Campaign: "spring"},
		clicks:  []touch{{ts: 5e18 - 1e9, clickID: "click-123456", partner: "adnet", campaign: "spring"}},
	}
	for i := 0; i < 8; i++ {
		s.eventIDs = append(s.eventIDs, seenID{hash: uint64(i) * 7919, ts: 5e18 - int64(i)*1e9})
	}
	buf := appendDeviceState(nil, &s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var d deviceState
		if err := decodeDeviceState(buf, &d); err != nil {
			b.Fatal(err)
		}
		buf = appendDeviceState(buf[:0], &d)
	}
}

// BenchmarkDeviceStateOnlyBadger is the state path alone, the floor under
// BenchmarkDeviceClassifyBadger: the reads and writes the classifier makes
// for the same stream (recorded on the memory store before the timer),
// replayed in the same batches against Badger behind the cache: one read
// (View, as the classifier reads) per key per batch, then one Apply with the offset. events/s counts the
// stream's events those batches stand for; combined with the classifier's
// own cost (BenchmarkDeviceClassifyMemory), 1/(1/a + 1/b) bounds what the
// classifier on Badger can reach.
func BenchmarkDeviceStateOnlyBadger(b *testing.B) {
	stream := benchStream()
	d := NewDevice(nil)
	mem := state.NewMemory()
	const batchSize = 4096
	type recorded struct {
		events int
		writes []state.Write
	}
	var batches []recorded
	for done := 0; done < b.N; {
		off := done % len(stream)
		n := min(batchSize, b.N-done, len(stream)-off)
		res, err := d.Classify(mem, stream[off:off+n])
		if err != nil {
			b.Fatal(err)
		}
		if err := mem.Apply(&state.Batch{Writes: res.Writes}); err != nil {
			b.Fatal(err)
		}
		batches = append(batches, recorded{events: n, writes: res.Writes})
		done += n
	}
	st := state.NewCached(openBadger(b), benchCacheEntries)
	b.ReportAllocs()
	b.ResetTimer()
	start, startCPU := time.Now(), cpuTime()
	done := 0
	var batch state.Batch
	for _, r := range batches {
		for _, w := range r.writes {
			if err := state.View(st, w.Key, func([]byte) error { return nil }); err != nil && err != state.ErrNotFound {
				b.Fatal(err)
			}
		}
		batch.Writes = r.writes
		batch.SetOffset("p0", int64(done+r.events))
		if err := st.Apply(&batch); err != nil {
			b.Fatal(err)
		}
		done += r.events
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-startCPU).Seconds(), "events/cpu-s")
}
