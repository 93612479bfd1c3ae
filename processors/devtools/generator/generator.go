package generator

import (
	"math/rand/v2"
	"time"
)

// Record kinds of Record.Kind.
const (
	KindClick   = "click"
	KindEvent   = "event"
	KindGarbage = "garbage" // not JSON, or JSON with no recognisable kind
)

// Record is one raw input record, as a producer would write it to the raw
// topic.
type Record struct {
	// Key is the Kafka key: the device id (a malformed record still has
	// the key of the device it pretends to come from).
	Key []byte
	// Value is the JSON line without its newline, or garbage for some
	// malformed records. It is the caller's: the generator never reuses
	// it.
	Value []byte
	// Malformed says the record is one normalize must reject.
	Malformed bool
	// Kind is KindClick, KindEvent or KindGarbage.
	Kind string
	// DeviceID is the device the record belongs to.
	DeviceID string
	// Time is the record's simulated arrival time: non-decreasing along
	// the stream. It is the record's ts, except for a duplicate event,
	// which carries the ts of the event it repeats.
	Time time.Time
}

// Generator produces the stream of one Config. It is not safe for
// concurrent use.
type Generator struct {
	cfg         Config
	rng         *rand.Rand
	ordinaryGap int64
	queue       []slot // a min-heap by (next record time, device index)
	ts          tsFormatter
	buf         []byte
	values      arena
	malformed   uint32
}

// New returns the generator of cfg. Zero fields take their defaults and
// out-of-range ones are clamped (see Config.Validate to report them
// instead).
func New(cfg Config) *Generator {
	cfg.setDefaults()
	g := &Generator{
		cfg:         cfg,
		rng:         rand.New(rand.NewPCG(uint64(cfg.Seed), 0x853c49e6748fea9b)),
		ordinaryGap: ordinaryGap(cfg.TimeCompression.Seconds(), cfg.Devices),
		queue:       make([]slot, 0, cfg.Devices),
		buf:         make([]byte, 0, 512),
	}
	// Devices appear over about one ordinary gap, so that the start of the
	// stream is not all installs.
	spread := min(max(g.ordinaryGap, hour), 7*day)
	start := cfg.Start.Unix()
	for i := range cfg.Devices {
		d := g.newDevice(i)
		g.planFirst(d, start+g.rng.Int64N(spread))
		g.queue = append(g.queue, slot{at: d.next(), idx: int32(i), d: d})
	}
	for i := len(g.queue)/2 - 1; i >= 0; i-- {
		g.down(i)
	}
	return g
}

// Config is the generator's config with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next record of the stream. The stream never ends.
func (g *Generator) Next() Record {
	d := g.queue[0].d
	if g.cfg.MalformedRate > 0 && g.chance(g.cfg.MalformedRate) {
		// A malformed record takes the place of no real one: the device's
		// lifecycle is untouched.
		return g.malformedRecord(d, d.next())
	}
	s := d.plan[d.head]
	d.head++
	rec := g.emit(d, s)
	if d.head == len(d.plan) {
		g.planNext(d)
	}
	g.queue[0].at = d.next()
	g.down(0)
	return rec
}

// slot is a device in the queue, with its sort key at hand: the heap is the
// generator's hottest data, and 100,000 devices do not fit in a cache.
type slot struct {
	at  int64
	idx int32
	d   *device
}

func (g *Generator) less(i, j int) bool {
	a, b := &g.queue[i], &g.queue[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.idx < b.idx
}

func (g *Generator) down(i int) {
	n := len(g.queue)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && g.less(r, l) {
			c = r
		}
		if !g.less(c, i) {
			return
		}
		g.queue[i], g.queue[c] = g.queue[c], g.queue[i]
		i = c
	}
}
