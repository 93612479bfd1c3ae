package pipeline

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// The state_ttl sweep (PRIVACY.md, "Retention of idle state"): every tick
// of a partition, the device and user stages read the next sweepChunk
// keys of its store, from where the last tick stopped, and delete (with a
// changelog tombstone) each device or user whose newest record is older
// than its app's state_ttl, in event time relative to the newest record
// of the partition: the newest the stage has classified there, or seen in
// its store. A pass over the whole store takes keys/sweepChunk ticks and
// starts again. A tick holds the partition like a batch does, and does a
// bounded amount of work, so the stage's throughput never pauses for
// more than about a batch; a device deleted comes back as a new one.

// sweepChunk is how many keys one tick of a partition reads.
const sweepChunk = 1_000

type sweeper struct {
	ttl    func(appID string) time.Duration
	newest func(value []byte) (time.Time, error) // the stored state's newest record
	// expired counts the keys deleted (postbackd_state_expired_total).
	expired func(n int)

	mu    sync.Mutex
	parts map[int]*sweepPart
	ttls  map[string]time.Duration // by app, from ttl
}

type sweepPart struct {
	cursor []byte // the next key to read; nil: from the start
	newest int64  // the partition's newest record, Unix ns
}

// newSweeper returns the sweeper of a stage whose stored values newest
// reads, or nil when no app sets state_ttl.
func newSweeper(cfg *config.Config, stageName string, m *stage.Metrics, newest func([]byte) (time.Time, error)) *sweeper {
	if !cfg.AnyStateTTL() {
		return nil
	}
	s := &sweeper{
		ttl:    func(app string) time.Duration { return cfg.WindowsFor(app).StateTTL.D() },
		newest: newest, parts: map[int]*sweepPart{}, ttls: map[string]time.Duration{},
	}
	if m != nil {
		s.expired = func(n int) { m.StateExpired.WithLabelValues(stageName).Add(float64(n)) }
	}
	return s
}

func (s *sweeper) part(p int) *sweepPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.parts[p]
	if sp == nil {
		sp = &sweepPart{}
		s.parts[p] = sp
	}
	return sp
}

func (s *sweeper) ttlOf(app []byte) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.ttls[string(app)]
	if !ok {
		d = s.ttl(string(app))
		s.ttls[string(app)] = d
	}
	return d
}

// observe notes the newest record time of a batch of the partition.
func (s *sweeper) observe(p int, t time.Time) {
	if t.IsZero() {
		return
	}
	sp := s.part(p)
	s.mu.Lock()
	sp.newest = max(sp.newest, t.UnixNano())
	s.mu.Unlock()
}

// sweep reads the partition's next chunk of keys and returns the deletes
// of the idle ones, leaving out the keys in skip (written by the same
// tick: they are not idle). A value it cannot read is left alone: the
// classifier reports it when the key is used.
func (s *sweeper) sweep(st state.Store, p int, skip map[string]bool) ([]state.Write, error) {
	sp := s.part(p)
	s.mu.Lock()
	cursor, newest := sp.cursor, sp.newest
	s.mu.Unlock()
	type idle struct {
		key []byte
		at  int64
	}
	var (
		candidates []idle
		n          int
		next       []byte
	)
	err := state.IterateFrom(st, cursor, func(k, v []byte) error {
		if n == sweepChunk {
			next = bytes.Clone(k)
			return state.ErrStopIteration
		}
		n++
		app, _, ok := bytes.Cut(k, []byte{0})
		if !ok || len(app) == 0 || skip[string(k)] {
			return nil // the runtime's own keys begin with NUL
		}
		t, err := s.newest(v)
		if err != nil {
			return nil
		}
		at := t.UnixNano()
		newest = max(newest, at)
		if s.ttlOf(app) > 0 {
			candidates = append(candidates, idle{bytes.Clone(k), at})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var dels []state.Write
	for _, c := range candidates {
		app, _, _ := bytes.Cut(c.key, []byte{0})
		if newest-c.at > int64(s.ttlOf(app)) {
			dels = append(dels, state.Write{Key: c.key})
		}
	}
	s.mu.Lock()
	sp.cursor, sp.newest = next, max(sp.newest, newest)
	s.mu.Unlock()
	return dels, nil
}

// forget drops a partition's cursor (revoked): its next owner sweeps it.
func (s *sweeper) forget(p int) {
	s.mu.Lock()
	delete(s.parts, p)
	s.mu.Unlock()
}

// tick is a sweep as a Tick's result.
func (s *sweeper) tick(_ context.Context, t stage.Tick, skip map[string]bool) (stage.Result, error) {
	if t.Store == nil {
		return stage.Result{}, nil
	}
	dels, err := s.sweep(t.Store, t.Partition, skip)
	if err != nil {
		return stage.Result{}, err
	}
	if len(dels) > 0 && s.expired != nil {
		s.expired(len(dels))
	}
	return stage.Result{Writes: dels}, nil
}

// inputTime is the ts of a device-stream input.
func inputTime(in *schemas.Input) time.Time {
	switch {
	case in.Event != nil:
		return in.Event.TS
	case in.Click != nil:
		return in.Click.TS
	}
	return time.Time{}
}

// sweptLogic is what sweepingLogic wraps: a stage's Logic that sends
// what the broker refuses of its outputs to the deadletter.
type sweptLogic interface {
	stage.Logic
	stage.DeadLetterer
}

// sweepingLogic is a stage's Logic with the state_ttl sweep on its ticks.
type sweepingLogic struct {
	sweptLogic
	sweep *sweeper
}

func (l *sweepingLogic) Tick(ctx context.Context, t stage.Tick) (stage.Result, error) {
	return l.sweep.tick(ctx, t, nil)
}

func (l *sweepingLogic) PartitionAssigned(_ string, p int) { l.sweep.forget(p) }
func (l *sweepingLogic) PartitionRevoked(_ string, p int)  { l.sweep.forget(p) }
