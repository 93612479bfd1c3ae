package sinkstage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

// StageName labels the sink stage in groups, metrics, logs and state dirs.
const StageName = "sink"

// changelogPosName is the store offset up to which the store holds the
// changelog partition's records.
const changelogPosName = "changelog"

// Stage is the delivery sink on Kafka: one consumer group, one
// partner.Sink and one set of dedup stores per partner, so that a slow
// partner holds back only its own group's batches (a partition's batch ends
// when its slowest delivery does, up to batch_wait).
type Stage struct {
	env    pipeline.Env
	sinks  []*partner.Sink
	groups []*group
	// recordProducers write the marks of each delivery as it ends (see
	// partStore), one per partner; none when env.Producer does.
	recordProducers []*stream.Producer
}

// group is one partner's consumer group and its handler.
type group struct {
	handler  *handler
	consumer *stream.Consumer
}

// Topics lists the sink's topics: the retry tiers, the delivery log and
// deadletter, and the compacted dedup changelog.
func Topics(env pipeline.Env, tiers int) []stream.TopicSpec {
	cfg := env.Config
	spec := func(name string, compacted bool) stream.TopicSpec {
		return stream.TopicSpec{Name: name, Partitions: cfg.Kafka.Partitions, ReplicationFactor: cfg.Kafka.ReplicationFactor, Compacted: compacted}
	}
	specs := []stream.TopicSpec{
		spec(cfg.Topics.DeliveryLog, false), spec(cfg.Topics.DeliveryDeadletter, false), spec(cfg.Topics.SinkChangelog, true),
	}
	for i := 0; i < tiers; i++ {
		specs = append(specs, spec(RetryTopic(cfg.Topics, i), false))
	}
	return specs
}

// New builds the stage from the sink's parsed configuration: per partner,
// a Sink delivering to it alone (ForPartner) and a consumer group
// <group_prefix>.sink.<partner_id> reading the classified topic and the
// retry tiers. The Sinks share their metrics and status cache.
func New(env pipeline.Env, cfg partner.Config, opts ...partner.Option) (*Stage, error) {
	if env.Config == nil || env.Producer == nil {
		return nil, fmt.Errorf("sinkstage: config and producer required")
	}
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	if env.Metrics == nil {
		env.Metrics = stage.NewMetrics(nil)
	}
	if env.Readiness == nil {
		env.Readiness = stage.NewReadiness()
	}
	shared, err := partner.NewShared(cfg, opts...)
	if err != nil {
		return nil, err
	}
	pub := &publisher{producer: env.Producer, topics: env.Config.Topics, json: env.Config.ClassifiedFormat == "json",
		log: env.Logger.With(zap.String("stage", StageName)), metrics: env.Metrics}
	// Each delivery's mark is produced alone or with the few that ended
	// meanwhile (partStore), and the worker's next call waits for its ack:
	// a producer that lingers for more (the stages' waits BatchTimeout, 2
	// ms) would add that wait to every call. So each partner's marks have
	// a producer that sends at once and does not compress (a round is a
	// few small records, and lz4 sets up a frame buffer of megabytes for
	// each batch it compresses), of its own: kafka-go sends one request at
	// a time per partition, and the changelog is one topic for every
	// partner, so with one producer for all a busy partner's rounds would
	// queue up the others'. A producer that is not a stream.Producer (a
	// test's) does every job.
	_, realProducer := env.Producer.(*stream.Producer)
	topics := []string{env.Config.Topics.Classified}
	for i := range cfg.Retry.Tiers {
		topics = append(topics, RetryTopic(env.Config.Topics, i))
	}
	known := make(map[string]bool, len(cfg.Partners))
	for _, p := range cfg.Partners {
		known[p.ID] = true
	}
	progress := newProgress(env.Metrics)
	st := &Stage{env: env}
	for i, p := range cfg.Partners {
		if p.ID == "." || p.ID == ".." {
			st.closeSinks()
			return nil, fmt.Errorf("%w: partner id %q cannot name its state directory", partner.ErrInvalidConfig, p.ID)
		}
		log := env.Logger.With(zap.String("partner", p.ID))
		sink, err := partner.New(cfg, pub, append([]partner.Option{partner.WithLogger(log)}, append(opts,
			partner.WithShared(shared), partner.ForPartner(p.ID))...)...)
		if err != nil {
			st.closeSinks()
			return nil, err
		}
		st.sinks = append(st.sinks, sink)
		recPub := pub
		if realProducer {
			rp, err := stream.NewProducer(stream.ProducerConfig{Brokers: env.Config.Kafka.Brokers, Dialer: env.Dialer,
				BatchTimeout: recordLinger, BatchSize: recordBatchSize, Compression: "none", Logger: log.With(zap.String("stage", StageName))})
			if err != nil {
				st.closeSinks()
				return nil, err
			}
			st.recordProducers = append(st.recordProducers, rp)
			recPub = &publisher{producer: rp, topics: pub.topics, json: pub.json, log: pub.log, metrics: pub.metrics}
		}
		h := &handler{env: env, sink: sink, pub: pub, recPub: recPub, partner: p.ID, known: known, first: i == 0, progress: progress,
			stores: make(map[int]*ownedStore)}
		cc := env.Consumer
		cc.Brokers, cc.Dialer, cc.Topics = env.Config.Kafka.Brokers, env.Dialer, topics
		cc.GroupID = env.Config.Kafka.GroupPrefix + "." + StageName + "." + p.ID
		if cfg.NewPartnerStart == partner.StartLatest {
			cc.StartOffset = stream.LastOffset
		}
		cc.Logger = log.With(zap.String("stage", StageName))
		c, err := stream.NewConsumer(cc, h)
		if err != nil {
			st.closeSinks()
			return nil, err
		}
		st.groups = append(st.groups, &group{handler: h, consumer: c})
	}
	return st, nil
}

// recordLinger is how long the record producer waits for more records
// before it sends (its BatchTimeout; 0 would mean the default), and
// recordBatchSize the most records of a request: about the marks of one
// round (kafka-go allocates room for that many in every batch, and with
// the default 1000 that was a third of the stage's allocations).
const (
	recordLinger    = time.Microsecond
	recordBatchSize = 128
)

// closeSinks stops the Sinks built so far, when New fails half-way.
func (s *Stage) closeSinks() {
	for _, sk := range s.sinks {
		_ = sk.Close(context.Background())
	}
	for _, p := range s.recordProducers {
		_ = p.Close()
	}
}

// Sinks are the delivery engines, one per partner in config order.
func (s *Stage) Sinks() []*partner.Sink { return s.sinks }

// RunAdmin serves the admin API over every partner's Sink on one listener
// (sink.admin.listen) until ctx ends.
func (s *Stage) RunAdmin(ctx context.Context) error { return partner.RunAdmin(ctx, s.sinks...) }

// Run consumes until ctx is cancelled or a partner's group fails (which
// stops the others: the process must not run with a partner silently
// stalled), drains, lets running deliveries finish (up to 30 s), and
// closes the stores.
func (s *Stage) Run(ctx context.Context) error {
	var err error
	if len(s.groups) == 0 {
		<-ctx.Done() // no partner: nothing to deliver, but the stage runs like the others
	} else {
		g, gctx := errgroup.WithContext(ctx)
		for _, gr := range s.groups {
			g.Go(func() error { return gr.consumer.Run(gctx) })
		}
		err = g.Wait()
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{err}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, gr := range s.groups {
		// Concurrently: each Sink may wait for its running deliveries, and
		// the 30 s are for all of them together.
		wg.Go(func() {
			e := errors.Join(gr.handler.sink.Close(closeCtx), gr.handler.close())
			mu.Lock()
			errs = append(errs, e)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, p := range s.recordProducers {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// ownedStore is a partition's store, shared by the classified topic and
// every retry tier of that partition number.
type ownedStore struct {
	store *partStore
	refs  int
	mu    sync.Mutex // one Process at a time per store
	// marks are the highest classified-topic positions applied: a record
	// the device or user stage wrote again after a crash is dropped
	// before it is offered to the partner's rules. Only the classified
	// partition's goroutine uses them.
	marks *stage.SourceMarks
}

// marksKey is where a partner's store keeps its source marks: beside its
// dedup markers, under its own prefix (so the changelog's key filter
// keeps it), with a NUL no postback_id has.
func marksKey(partnerID string) []byte { return partner.DedupKey(partnerID, "\x00source-marks") }

// handler is one partner's: its stores hold only that partner's dedup
// markers, under <state_dir>/sink/<partner_id>/<partition>.
type handler struct {
	env     pipeline.Env
	sink    *partner.Sink
	pub     *publisher
	recPub  *publisher // for partStore's rounds
	partner string
	// known are the configured partners; first is the handler that also
	// takes retry jobs of partners no longer configured, so that exactly
	// one Sink logs them as skipped (no rule) rather than none.
	known    map[string]bool
	first    bool
	progress *progress
	mu       sync.Mutex
	stores   map[int]*ownedStore
	scratch  scratches
}

func (h *handler) dir(p int) string {
	return filepath.Join(h.env.Config.StateDir, StageName, h.partner, strconv.Itoa(p))
}

// readinessName names the handler's partitions in the readiness report:
// several partners' groups restore the same partition numbers at once.
func (h *handler) readinessName() string { return StageName + "/" + h.partner }

// Assigned opens (or shares) the partition's store, first catching up
// with the changelog: the dedup markers only ever get set, so applying the
// changelog over the local store, own writes included, yields every
// postback any copy delivered.
func (h *handler) Assigned(ctx context.Context, topic string, p int) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps, ok := h.stores[p]
	if !ok {
		st, err := h.open(ctx, p)
		if err != nil {
			return 0, err
		}
		marks, err := stage.LoadSourceMarks(st, marksKey(h.partner))
		if err != nil {
			st.Close()
			return 0, fmt.Errorf("sink %s partition %d: %w", h.partner, p, err)
		}
		ps = &ownedStore{store: &partStore{Store: st, partition: p, pub: h.recPub, changelog: h.env.Config.Topics.SinkChangelog,
			log: h.env.Logger.With(zap.String("partner", h.partner)), logs: logQueue{pub: h.pub}}, marks: marks}
		h.stores[p] = ps
	}
	ps.refs++
	h.progress.assigned(h, topic, p)
	off, ok, err := ps.store.Offset("in:" + topic)
	if err != nil || !ok {
		return stream.CommittedOffset, err
	}
	return off, nil
}

func (h *handler) open(ctx context.Context, p int) (state.Store, error) {
	h.env.Readiness.MarkRestoring(h.readinessName(), p, true)
	defer h.env.Readiness.MarkRestoring(h.readinessName(), p, false)
	dir := h.dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st, err := state.OpenBadger(dir, state.BadgerOptions{Logger: h.env.Logger})
	if err != nil {
		return nil, err
	}
	from, _, err := st.Offset(changelogPosName)
	if err == nil {
		var end, n int64
		start := time.Now()
		// The changelog is one topic for every partner (its keys name the
		// partner); this store keeps only its own partner's markers, so
		// that it stays as small as that partner's traffic.
		end, n, err = stage.CatchUp(ctx, h.env.Dialer, h.env.Config.Kafka.Brokers, h.env.Config.Topics.SinkChangelog, p, from,
			&keyFilter{Store: st, prefix: partner.DedupKey(h.partner, "")})
		if err == nil {
			var b state.Batch
			b.SetOffset(changelogPosName, end)
			err = st.Apply(&b)
			h.env.Logger.Info("sink state caught up with changelog", zap.String("partner", h.partner), zap.Int("partition", p), zap.Int64("records", n), zap.Duration("took", time.Since(start)))
		}
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("sink %s partition %d: %w", h.partner, p, err)
	}
	return st, nil
}

func (h *handler) owned(p int) (*ownedStore, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps, ok := h.stores[p]
	if !ok {
		return nil, fmt.Errorf("%w: sink partition %d", stage.ErrNotOwned, p)
	}
	return ps, nil
}

// scratch is a batch's working memory, reused from batch to batch (a
// batch's jobs are some hundred bytes per record): the decoded jobs and the
// changelog records. A sync.Pool would not do: it is emptied by every GC
// cycle, and the stage runs several a second.
type scratch struct {
	jobs []partner.Job
	msgs []kafka.Message
}

// scratches are the handler's idle scratches, one per partition batch
// running at once at most.
type scratches struct {
	mu   sync.Mutex
	free []*scratch
}

func (ss *scratches) get() *scratch {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if n := len(ss.free); n > 0 {
		sc := ss.free[n-1]
		ss.free = ss.free[:n-1]
		return sc
	}
	return new(scratch)
}

// put clears what the batch left in sc (its records' strings and bytes)
// and keeps it for the next batch.
func (ss *scratches) put(sc *scratch) {
	clear(sc.jobs)
	clear(sc.msgs)
	sc.jobs, sc.msgs = sc.jobs[:0], sc.msgs[:0]
	ss.mu.Lock()
	ss.free = append(ss.free, sc)
	ss.mu.Unlock()
}

func (h *handler) Process(ctx context.Context, b stream.Batch) error {
	start := time.Now()
	ps, err := h.owned(b.Partition)
	if err != nil {
		return err
	}
	sc := h.scratch.get()
	defer h.scratch.put(sc)
	// The batch's offsets stay the whole batch's; only its jobs leave the
	// repeats out.
	fresh := b
	classified := b.Topic == h.env.Config.Topics.Classified
	if classified {
		var repeats int
		if fresh.Messages, repeats = ps.marks.Filter(b.Messages); repeats > 0 && h.first {
			h.env.Metrics.Repeats.WithLabelValues(StageName).Add(float64(repeats))
		}
	}
	// Decoded before the store is locked: a retry tier's batch waits here
	// for its jobs' due time without holding up the classified topic's.
	sc.jobs, err = h.jobs(ctx, fresh, sc.jobs[:0])
	if err != nil {
		return err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	writes, err := h.sink.Process(ctx, ps.store, sc.jobs)
	if err != nil {
		return err
	}
	if classified {
		if w, ok := ps.marks.Write(); ok {
			writes = append(writes, w)
		}
	}
	if len(writes) > 0 {
		// The marks whose deliveries could not be recorded as they ended
		// (ps.store.Record), and those of handed-off deliveries.
		sc.msgs = slices.Grow(sc.msgs[:0], len(writes))
		for _, w := range writes {
			sc.msgs = append(sc.msgs, stream.AtPartition(kafka.Message{Topic: h.env.Config.Topics.SinkChangelog, Key: w.Key, Value: w.Value}, b.Partition))
		}
		refused, err := produce(ctx, h.env.Producer, sc.msgs)
		if err != nil {
			return err
		}
		for _, r := range refused {
			h.pub.lost("changelog", sc.msgs[r.i], r.err)
		}
	}
	// The entries of the deliveries recorded as they ended go before the
	// offset: a batch done has its delivery log written.
	if err := ps.store.logs.flush(ctx); err != nil {
		return err
	}
	batch := state.Batch{Writes: writes}
	batch.SetOffset("in:"+b.Topic, b.NextOffset())
	if err := ps.store.Apply(&batch); err != nil {
		return fmt.Errorf("sink partition %d: apply: %w", b.Partition, err)
	}
	m := h.env.Metrics
	h.progress.processed(h, b.Topic, b.Partition, len(b.Messages))
	m.BatchRecords.WithLabelValues(StageName).Observe(float64(len(b.Messages)))
	m.Lag.WithLabelValues(h.readinessName(), b.Topic, strconv.Itoa(b.Partition)).Set(float64(b.Lag()))
	m.BatchSeconds.WithLabelValues(StageName).Observe(time.Since(start).Seconds())
	return nil
}

// jobs decodes a batch: classified records (every one is offered to the
// partner's rules), or the partner's own retry jobs, which wait until due;
// other partners' retry jobs are skipped before any wait. A record that
// cannot be decoded is logged and skipped: it cannot be delivered, and
// holding the partition would stop every other postback behind it. The
// jobs are appended to jobs.
func (h *handler) jobs(ctx context.Context, b stream.Batch, jobs []partner.Job) ([]partner.Job, error) {
	jobs = slices.Grow(jobs, len(b.Messages))
	retry := b.Topic != h.env.Config.Topics.Classified
	for _, m := range b.Messages {
		var (
			j   partner.Job
			err error
		)
		if retry {
			err = json.Unmarshal(m.Value, &j)
		} else {
			j.Record, err = decodeClassified(m.Value)
		}
		if err == nil {
			err = checkPostbackID(j.Record.PostbackID)
		}
		if err != nil {
			if h.first { // every partner's group reads it: report it once
				h.env.Logger.Error("undecodable record skipped", zap.String("topic", b.Topic), zap.Int("partition", b.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
				h.env.Metrics.Rejects.WithLabelValues(StageName, "record").Inc()
			}
			continue
		}
		if retry {
			if j.Partner != h.partner && (h.known[j.Partner] || !h.first) {
				continue
			}
			if wait := time.Until(j.Due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return nil, ctx.Err()
				}
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// MaxPostbackIDBytes bounds a postback_id the sink takes (a SHA-256 in
// hex is 64): it is the key of the dedup mark, of the changelog, delivery
// log, retry and deadletter records and the Idempotency-Key of every call,
// so a record with a longer one (or none) is skipped as undecodable
// rather than let one record's id stop the store or the broker.
const MaxPostbackIDBytes = 256

func checkPostbackID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("no postback_id")
	case len(id) > MaxPostbackIDBytes:
		return fmt.Errorf("postback_id of %d bytes, more than %d", len(id), MaxPostbackIDBytes)
	case strings.ContainsFunc(id, unicode.IsControl):
		// A NUL could make the key of the store's source marks.
		return fmt.Errorf("postback_id with a control character")
	}
	return nil
}

func decodeClassified(v []byte) (schemas.Classified, error) {
	if schemas.DetectFormat(v) == schemas.FormatJSON {
		return schemas.DecodeClassifiedJSON(v)
	}
	return schemas.DecodeClassified(v)
}

func (h *handler) Revoked(_ context.Context, topic string, p int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress.revoked(h, topic, p)
	ps, ok := h.stores[p]
	if !ok {
		return
	}
	if ps.refs--; ps.refs > 0 {
		return
	}
	delete(h.stores, p)
	h.sink.Forget(ps.store)
	if err := ps.store.close(); err != nil && !errors.Is(err, state.ErrClosed) {
		h.env.Logger.Warn("closing sink state", zap.Int("partition", p), zap.Error(err))
	}
}

func (h *handler) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for p, ps := range h.stores {
		if err := ps.store.close(); err != nil && !errors.Is(err, state.ErrClosed) {
			errs = append(errs, err)
		}
		delete(h.stores, p)
	}
	return errors.Join(errs...)
}
