package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// ttlConfig is a config whose app "ttl.app" keeps idle state 30 days and
// whose other apps keep it for ever.
func ttlConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ttl.yaml", []byte("apps:\n  - app_id: ttl.app\n    state_ttl: 720h\n  - app_id: kept.app\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// installs writes one install per device into st, each at its ts, as
// the device stage does.
func installs(t testing.TB, st state.Store, app string, at map[string]time.Time) {
	t.Helper()
	var batch []schemas.Input
	for dev, ts := range at {
		batch = append(batch, schemas.Input{Event: &schemas.Event{EventID: "e-" + dev, AppID: app, Platform: "android", DeviceID: dev, Type: schemas.TypeInstall, TS: ts}})
	}
	dr, err := classify.NewDevice(nil).Classify(st, batch)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(&state.Batch{Writes: dr.Writes}); err != nil {
		t.Fatal(err)
	}
}

// TestStateTTLSweep: a full pass of the sweep deletes the devices of an
// app with state_ttl whose newest record is older than the TTL before the
// partition's newest record, and nothing else: recent devices, the
// devices of an app without a TTL, and the runtime's own keys stay. A
// pass goes a chunk at a time, from where the last tick stopped.
func TestStateTTLSweep(t *testing.T) {
	cfg := ttlConfig(t)
	st := state.NewMemory()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old, recent := map[string]time.Time{}, map[string]time.Time{}
	for i := range sweepChunk + 500 { // more than one chunk
		old[fmt.Sprintf("old-%05d", i)] = now.Add(-31 * 24 * time.Hour)
	}
	for i := range 100 {
		recent[fmt.Sprintf("new-%03d", i)] = now.Add(-29 * 24 * time.Hour)
	}
	recent["newest"] = now
	installs(t, st, "ttl.app", old)
	installs(t, st, "ttl.app", recent)
	installs(t, st, "kept.app", map[string]time.Time{"ancient": now.AddDate(-3, 0, 0)})
	if err := st.Apply(&state.Batch{Writes: []state.Write{{Key: []byte("\x00postbackd/source-marks"), Value: []byte("m")}}}); err != nil {
		t.Fatal(err)
	}
	expired := 0
	s := newSweeper(cfg, Device, nil, classify.DeviceNewest)
	s.expired = func(n int) { expired += n }
	logic := &sweepingLogic{sweep: s}
	ticks := 0
	for {
		res, err := logic.Tick(context.Background(), stage.Tick{Store: st, Partition: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(&state.Batch{Writes: res.Writes}); err != nil {
			t.Fatal(err)
		}
		ticks++
		if s.part(3).cursor == nil {
			break // a pass is done
		}
	}
	// The first chunk ran before the sweep had seen the newest device (it
	// sorts after the old ones): a second pass gets what it left.
	for {
		res, _ := logic.Tick(context.Background(), stage.Tick{Store: st, Partition: 3})
		_ = st.Apply(&state.Batch{Writes: res.Writes})
		if s.part(3).cursor == nil {
			break
		}
	}
	if ticks < 2 {
		t.Errorf("a pass over %d keys took %d tick(s), want it in chunks of %d", len(old)+len(recent)+2, ticks, sweepChunk)
	}
	left := map[string]bool{}
	_ = st.Iterate(func(k, _ []byte) error { left[string(k)] = true; return nil })
	for dev := range old {
		if left["ttl.app\x00"+dev] {
			t.Fatalf("idle device %s still there", dev)
		}
	}
	for dev := range recent {
		if !left["ttl.app\x00"+dev] {
			t.Errorf("device %s, active within the TTL, was deleted", dev)
		}
	}
	if !left["kept.app\x00ancient"] || !left["\x00postbackd/source-marks"] {
		t.Errorf("a device of an app without state_ttl, or the runtime's key, was deleted: %v", left)
	}
	if expired != len(old) {
		t.Errorf("expired counted %d, want %d", expired, len(old))
	}

	// A device deleted comes back new: its next install is an install.
	dr, err := classify.NewDevice(nil).Classify(st, []schemas.Input{{Event: &schemas.Event{EventID: "again", AppID: "ttl.app", Platform: "android",
		DeviceID: "old-00000", Type: schemas.TypeInstall, TS: now}}})
	if err != nil || len(dr.Classified) == 0 || dr.Classified[0].Type != schemas.TypeInstall {
		t.Errorf("an expired device's next install: %+v %v", dr.Classified, err)
	}
}

// TestStateTTLSweepSkipsLiveKeys: in a merging device's tick, the keys the
// release just wrote are not swept, however old the store's value.
func TestStateTTLSweepSkipsLiveKeys(t *testing.T) {
	cfg := ttlConfig(t)
	st := state.NewMemory()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	installs(t, st, "ttl.app", map[string]time.Time{"a": now.AddDate(0, -2, 0), "b": now.AddDate(0, -2, 0), "c": now})
	s := newSweeper(cfg, Device, nil, classify.DeviceNewest)
	res, err := s.tick(context.Background(), stage.Tick{Store: st, Partition: 0}, map[string]bool{"ttl.app\x00a": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Writes) != 1 || string(res.Writes[0].Key) != "ttl.app\x00b" || res.Writes[0].Value != nil {
		t.Errorf("sweep writes %v, want only b's delete", res.Writes)
	}
}

// TestUserStateVersion1NotSwept: a user state written before version 2
// does not say when the user was last seen (one without activity has no
// time at all), so the sweep leaves it alone rather than read it as 1970.
func TestUserStateVersion1NotSwept(t *testing.T) {
	v1 := binary.AppendVarint([]byte{1, 0}, 0) // version 1, no activity
	if _, err := classify.UserNewest(v1); !errors.Is(err, classify.ErrNewestUnknown) {
		t.Errorf("v1 user state: %v, want ErrNewestUnknown", err)
	}
	st := state.NewMemory()
	if err := st.Apply(&state.Batch{Writes: []state.Write{{Key: []byte("ttl.app\x00old-user"), Value: v1}}}); err != nil {
		t.Fatal(err)
	}
	s := newSweeper(ttlConfig(t), User, nil, classify.UserNewest)
	s.observe(0, time.Now())
	res, err := s.tick(context.Background(), stage.Tick{Store: st, Partition: 0}, nil)
	if err != nil || len(res.Writes) != 0 {
		t.Errorf("sweep of a v1 user state: %v %v, want nothing deleted", res.Writes, err)
	}
}

// BenchmarkStateTTLSweep: the sweep over 1,000,000 devices in Badger
// (each reported as ns per device of a whole pass): none idle (a pass
// that only reads) and all idle (a pass that deletes every one, with the
// store's writes). The throughput benchmarks next to it classify the same
// batches without and with a sweep chunk after every batch (the sweep's
// worst case: it never rests).
func BenchmarkStateTTLSweep(b *testing.B) {
	const devices = 1_000_000
	cfg := ttlConfig(b)
	fill := func(b *testing.B, at time.Time) state.Store {
		b.Helper()
		bd, err := state.OpenBadger(b.TempDir(), state.BadgerOptions{LevelZeroTables: state.RewrittenLevelZeroTables})
		if err != nil {
			b.Fatal(err)
		}
		st := state.NewCached(bd, 100_000)
		for i := 0; i < devices; i += 10_000 {
			m := map[string]time.Time{}
			for j := i; j < i+10_000; j++ {
				m[fmt.Sprintf("dev-%07d", j)] = at
			}
			installs(b, st, "ttl.app", m)
		}
		return st
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pass := func(b *testing.B, st state.Store, s *sweeper) int {
		n := 0
		for {
			res, err := s.tick(context.Background(), stage.Tick{Store: st, Partition: 0}, nil)
			if err != nil {
				b.Fatal(err)
			}
			n += len(res.Writes)
			if err := st.Apply(&state.Batch{Writes: res.Writes}); err != nil {
				b.Fatal(err)
			}
			if s.part(0).cursor == nil {
				return n
			}
		}
	}
	b.Run("pass/none-idle", func(b *testing.B) {
		st := fill(b, now)
		defer st.Close()
		b.ResetTimer()
		for range b.N {
			s := newSweeper(cfg, Device, nil, classify.DeviceNewest)
			if n := pass(b, st, s); n != 0 {
				b.Fatalf("%d deleted", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices), "ns/device")
	})
	b.Run("pass/all-idle", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			st := fill(b, now.AddDate(0, -2, 0))
			s := newSweeper(cfg, Device, nil, classify.DeviceNewest)
			s.observe(0, now)
			b.StartTimer()
			if n := pass(b, st, s); n != devices {
				b.Fatalf("%d deleted, want %d", n, devices)
			}
			b.StopTimer()
			st.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices), "ns/device")
	})
	for _, sweeping := range []bool{false, true} {
		name := "classify/no-sweep"
		if sweeping {
			name = "classify/sweep-every-batch"
		}
		b.Run(name, func(b *testing.B) {
			st := fill(b, now.AddDate(0, -2, 0))
			defer st.Close()
			l := &deviceLogic{classifier: classify.NewDevice(nil), classified: "c", byUser: "u", deadLetters: deadLetters{enc: encoder(cfg, nil), topic: "dl"}}
			s := newSweeper(cfg, Device, nil, classify.DeviceNewest)
			s.observe(0, now)
			const batch = 500
			b.ResetTimer()
			for i := range b.N {
				msgs := make([]kafka.Message, batch)
				for j := range msgs {
					in := schemas.Input{Event: &schemas.Event{EventID: fmt.Sprintf("n-%d-%d", i, j), AppID: "ttl.app", Platform: "android",
						DeviceID: fmt.Sprintf("fresh-%d-%d", i, j), Type: schemas.TypeInstall, TS: now}}
					v, err := schemas.EncodeInput(nil, &in)
					if err != nil {
						b.Fatal(err)
					}
					msgs[j] = kafka.Message{Value: v}
				}
				var res stage.Result
				if err := l.classify(&res, st, msgs, 0); err != nil {
					b.Fatal(err)
				}
				if err := st.Apply(&state.Batch{Writes: res.Writes}); err != nil {
					b.Fatal(err)
				}
				if sweeping {
					sw, err := s.tick(context.Background(), stage.Tick{Store: st, Partition: 0}, nil)
					if err != nil {
						b.Fatal(err)
					}
					if err := st.Apply(&state.Batch{Writes: sw.Writes}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
