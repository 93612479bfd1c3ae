package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// MaxLineBytes is the longest input line replay accepts; longer lines are
// rejected.
const MaxLineBytes = 1 << 20

// Config configures a replay.
type Config struct {
	// Windows gives each app's windows; nil means the defaults.
	Windows classify.WindowsFunc
	// MaxClockSkew gives each app's max_clock_skew; nil means 24h.
	MaxClockSkew func(appID string) time.Duration
	// MaxRecordBytes is max_record_bytes (0: normalize's default).
	MaxRecordBytes int
	// ReceivedAt is the arrival time of lines without received_at; zero
	// means the moment the replay started (CLASSIFICATION.md, "Time").
	ReceivedAt time.Time
	// StateDir holds the Badger state; "" means a temporary directory
	// removed at the end.
	StateDir string
	// BatchSize is how many input lines are classified together (default
	// 4096): larger batches amortize the state transactions.
	BatchSize int
	// CacheEntries bounds the read cache in front of each of the two
	// stores (default 200,000 keys: 100,000 devices and their users stay
	// cached; a few hundred bytes each, so about 100 MB at most per store
	// for typical states).
	CacheEntries int
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
}

func (c *Config) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 4096
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 200000
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.ReceivedAt.IsZero() {
		c.ReceivedAt = time.Now()
	}
}

// Stats counts what a replay did.
type Stats struct {
	Lines      int // input lines read, blank ones included
	Inputs     int // valid clicks and events
	Rejected   int // lines rejected
	Duplicates int // events dropped as duplicates
	Records    int // classified records written

	// DeviceCache and UserCache are the state caches' counters at the end.
	DeviceCache, UserCache state.CachedStats
}

// Run reads input JSON lines from in, in stream order, and writes
// classified records as JSON lines to out; rejected lines go to rejects as
// one JSON line each {"line": N, "field": "...", "reason": "..."}. It
// returns an error only when the input cannot be read, the output cannot
// be written, the state fails, or ctx is done.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer, rejects io.Writer) (Stats, error) {
	cfg.setDefaults()
	if rejects == nil {
		rejects = io.Discard
	}
	norm, err := normalize.New(normalize.Config{
		Logger: cfg.Logger, MaxClockSkew: cfg.MaxClockSkew, MaxRecordBytes: cfg.MaxRecordBytes, RecordArrival: true,
	})
	if err != nil {
		return Stats{}, fmt.Errorf("replay: %w", err)
	}
	dir := cfg.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "postbackd-replay-"); err != nil {
			return Stats{}, fmt.Errorf("replay: state dir: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	// Replay owns the machine for its run, so larger memtables than a
	// stage's: fewer flushes, and a batch's writes fit one transaction.
	opts := state.BadgerOptions{MemTableSize: 32 << 20, BlockCacheSize: 32 << 20, LevelZeroTables: state.RewrittenLevelZeroTables, Logger: cfg.Logger}
	devices, err := openStore(filepath.Join(dir, "device"), opts, cfg.CacheEntries)
	if err != nil {
		return Stats{}, err
	}
	keep := cfg.StateDir != ""
	users, err := openStore(filepath.Join(dir, "user"), opts, cfg.CacheEntries)
	if err != nil {
		devices.Close()
		return Stats{}, err
	}

	r := &run{
		cfg: cfg, norm: norm, devices: devices, users: users,
		device: classify.NewDevice(cfg.Windows), user: classify.NewUser(cfg.Windows),
		out: bufio.NewWriterSize(out, 1<<20), rejects: rejects,
	}
	err = r.loop(ctx, in)
	if ferr := r.out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("%w: %w", ErrWrite, ferr)
	}
	r.stats.DeviceCache, r.stats.UserCache = devices.Stats(), users.Stats()
	for _, st := range []*state.Cached{devices, users} {
		if cerr := closeStore(st, keep); err == nil && cerr != nil {
			err = fmt.Errorf("replay: %w", cerr)
		}
	}
	cfg.Logger.Info("replay done", zap.Int("lines", r.stats.Lines), zap.Int("inputs", r.stats.Inputs),
		zap.Int("rejected", r.stats.Rejected), zap.Int("duplicates", r.stats.Duplicates), zap.Int("records", r.stats.Records),
		zap.Int("device_cache_entries", r.stats.DeviceCache.Entries), zap.Int64("device_cache_bytes", r.stats.DeviceCache.Bytes),
		zap.Int64("device_cache_spills", r.stats.DeviceCache.Spills), zap.Int("user_cache_entries", r.stats.UserCache.Entries))
	return r.stats, err
}

type run struct {
	cfg            Config
	norm           *normalize.Normalizer
	devices, users state.Store
	device         *classify.Device
	user           *classify.User
	out            *bufio.Writer
	rejects        io.Writer
	stats          Stats
	buf            []byte
}

func (r *run) loop(ctx context.Context, in io.Reader) error {
	lines := newLineReader(in, MaxLineBytes)
	batch := make([]schemas.Input, 0, r.cfg.BatchSize)
	for {
		line, tooLong, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrRead, lines.n+1, err)
		}
		r.stats.Lines++
		if tooLong {
			if err := r.reject(lines.n, "", "line longer than "+strconv.Itoa(MaxLineBytes)+" bytes"); err != nil {
				return err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		input, err := r.norm.Normalize(line, r.cfg.ReceivedAt)
		if err != nil {
			var rej *normalize.Reject
			if !errors.As(err, &rej) {
				rej = &normalize.Reject{Reason: err.Error()}
			}
			if err := r.reject(lines.n, rej.Field, rej.Reason); err != nil {
				return err
			}
			continue
		}
		r.stats.Inputs++
		batch = append(batch, input)
		if len(batch) == cap(batch) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := r.classify(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return r.classify(batch)
}

// classify runs a batch through both classifiers, applies their writes and
// writes each event's device records followed by its user records.
func (r *run) classify(batch []schemas.Input) error {
	if len(batch) == 0 {
		return nil
	}
	dr, err := r.device.Classify(r.devices, batch)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if err := apply(r.devices, dr.Writes); err != nil {
		return err
	}
	ur, err := r.user.Classify(r.users, dr.UserEvents)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if err := apply(r.users, ur.Writes); err != nil {
		return err
	}
	r.stats.Duplicates += dr.Duplicates
	next, u := 0, 0
	for i, end := range dr.UserEventEnds {
		if err := r.write(dr.Classified[next:end]); err != nil {
			return err
		}
		next = end
		start := u
		for u < len(ur.Sources) && ur.Sources[u] == i {
			u++
		}
		if err := r.write(ur.Classified[start:u]); err != nil {
			return err
		}
	}
	return r.write(dr.Classified[next:])
}

// apply writes ws, split in halves while too large for one transaction:
// replay has no offset to keep atomic with its state.
func apply(st state.Store, ws []state.Write) error {
	if len(ws) == 0 {
		return nil
	}
	err := st.Apply(&state.Batch{Writes: ws})
	if errors.Is(err, state.ErrBatchTooLarge) && len(ws) > 1 {
		if err := apply(st, ws[:len(ws)/2]); err != nil {
			return err
		}
		return apply(st, ws[len(ws)/2:])
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}

func (r *run) write(cs []schemas.Classified) error {
	for i := range cs {
		r.buf = schemas.AppendClassifiedJSON(r.buf[:0], &cs[i])
		r.buf = append(r.buf, '\n')
		if _, err := r.out.Write(r.buf); err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		r.stats.Records++
	}
	return nil
}

type rejectLine struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (r *run) reject(line int, field, reason string) error {
	r.stats.Rejected++
	b, err := json.Marshal(rejectLine{Line: line, Field: field, Reason: reason})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	if _, err := r.rejects.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}
