package sinkstage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/console"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/state"
)

// StageName labels the sink stage in groups, metrics, logs and state dirs.
const StageName = "sink"

// Spec is the sink's entry in the topology: it reads the classified topic
// (the fan-out), each partner's jobs topic and its own retry tiers, and
// writes the jobs topics, the delivery log and deadletter, the retry tiers
// and the compacted dedup changelog. Built, it runs the stage and, when
// sink.admin has a token, the admin API.
func Spec(cfg *config.Config, sc partner.Config, opts ...partner.Option) stage.Stage {
	reads := []stream.TopicSpec{stage.Topic(cfg, cfg.Topics.Classified), stage.PrivacyTopic(cfg, cfg.Topics.PrivacyAudit), stage.PrivacyTopic(cfg, cfg.Topics.PrivacyRequests)}
	writes := []stream.TopicSpec{stage.Topic(cfg, cfg.Topics.DeliveryLog), stage.Topic(cfg, cfg.Topics.DeliveryDeadletter), stage.Changelog(cfg, cfg.Topics.SinkChangelog)}
	for _, p := range sc.Partners {
		reads = append(reads, stage.Topic(cfg, JobsTopic(cfg.Topics, p.ID)))
		writes = append(writes, stage.Topic(cfg, JobsTopic(cfg.Topics, p.ID)))
	}
	for i := range sc.Retry.Tiers {
		reads = append(reads, stage.Topic(cfg, RetryTopic(cfg.Topics, i)))
		writes = append(writes, stage.Topic(cfg, RetryTopic(cfg.Topics, i)))
	}
	return stage.Stage{Name: StageName, Reads: reads, Writes: writes, Build: func(env stage.Env) (stage.Runner, error) {
		s, err := New(env, sc, append([]partner.Option{partner.WithRegisterer(env.Registerer)}, opts...)...)
		if err != nil {
			return nil, err
		}
		token, tokenErr := sc.AdminToken()
		if tokenErr != nil {
			env.Logger.Warn("admin api off: no token configured", zap.Error(tokenErr))
			return withAdmin{Stage: s}, nil
		}
		// The listener is bound now, before any stage runs, so that the
		// address the stages' consumers send to their groups (for state
		// queries forwarded to an owner) is the one that answers.
		ln, err := net.Listen("tcp", sc.Admin.Listen)
		if err != nil {
			return nil, fmt.Errorf("admin listen: %w", err)
		}
		if env.Admin != nil {
			env.Admin.SetURL(sc.AdvertisedAdmin(ln.Addr()), token)
		}
		return withAdmin{Stage: s, ln: ln, token: token, shared: env.Admin, log: env.Logger}, nil
	}}
}

// withAdmin runs the stage and, with a listener, its admin API (the
// sink's routes and those the other stages added to shared) and the web
// console over it.
type withAdmin struct {
	*Stage
	ln     net.Listener // nil: no admin API
	token  string
	shared *stage.Admin
	log    *zap.Logger
}

func (w withAdmin) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Stage.Run(gctx) })
	if w.ln != nil {
		routes := w.admin
		if w.shared != nil {
			for _, r := range w.shared.Routes() {
				routes = append(routes, partner.AdminRoute{Pattern: r.Pattern, Handler: r.Handler})
			}
		}
		g.Go(func() error {
			return partner.ServeAdmin(gctx, w.ln, console.New(w.token, partner.AdminHandlerWith(w.token, routes, w.sinks...)), w.log)
		})
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// Stage is the delivery sink on Kafka: the fan-out (fanout.go) reads the
// classified topic once and hands each partner its postbacks; per partner,
// one consumer group, one partner.Sink and one set of dedup stores, so
// that a slow partner holds back only its own group's batches (a
// partition's batch ends when its slowest delivery does, up to
// batch_wait). Each partner's group is a stage.Processor with a
// RestoreCatchUp store per partition number, shared by its jobs topic and
// the retry tiers.
type Stage struct {
	fanout *stage.Processor
	sinks  []*partner.Sink
	groups []*group
	// recordProducers write the marks of each delivery as it ends (see
	// partStore), one per partner; none when env.Producer does.
	recordProducers []*stream.Producer
	// admin are the admin API's routes of the Kafka side (redrive,
	// erasures).
	admin []partner.AdminRoute
	// erasures: the erased ids every partner's Sink skips.
	erasures *erasures
}

// group is one partner's consumer group and its logic.
type group struct {
	handler   *handler
	processor *stage.Processor
}

// New builds the stage from the sink's parsed configuration: the fan-out,
// in group <group_prefix>.sink.fanout, and per partner a Sink delivering
// to it alone (ForPartner) and a consumer group
// <group_prefix>.sink.<partner_id> reading its jobs topic and the retry
// tiers. The Sinks share their metrics and status cache.
func New(env stage.Env, cfg partner.Config, opts ...partner.Option) (*Stage, error) {
	env, err := env.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("sinkstage: %w", err)
	}
	shared, err := partner.NewShared(cfg, opts...)
	if err != nil {
		return nil, err
	}
	pub := &publisher{producer: env.Producer, topics: env.Config.Topics, json: env.Config.ClassifiedFormat == "json",
		logID: env.Schemas.ID(env.Config.Topics.DeliveryLog), log: env.Logger.With(zap.String("stage", StageName)), metrics: env.Metrics}
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
	var tiers []string
	for i := range cfg.Retry.Tiers {
		tiers = append(tiers, RetryTopic(env.Config.Topics, i))
	}
	known := make(map[string]bool, len(cfg.Partners))
	for _, p := range cfg.Partners {
		known[p.ID] = true
	}
	progress := newProgress(env.Metrics)
	st := &Stage{erasures: newErasures(env.Config, env.Dialer, env.Logger.With(zap.String("stage", StageName)))}
	st.admin = append([]partner.AdminRoute{{Pattern: "POST /v1/redrive",
		Handler: RedriveHandler(RedriveEnv{Config: env.Config, Sink: cfg, Dialer: env.Dialer, Schemas: env.Schemas}, env.Producer)}},
		st.erasures.routes(env.Config, env.Producer)...)
	st.admin = append(st.admin, partner.AdminRoute{Pattern: "GET /v1/partners", Handler: st.partnersHandler()})
	router, err := partner.NewRouter(cfg)
	if err != nil {
		return nil, err
	}
	fo := &fanout{env: env, router: router, classified: env.Config.Topics.Classified, pub: pub}
	for _, id := range router.Partners() {
		fo.jobs = append(fo.jobs, JobsTopic(env.Config.Topics, id))
	}
	if err := checkJobsPartitions(env, fo.classified, fo.jobs); err != nil {
		return nil, err
	}
	if st.fanout, err = stage.New(fo.processorConfig(env, cfg, progress)); err != nil {
		return nil, err
	}
	for i, p := range cfg.Partners {
		if p.ID == "." || p.ID == ".." {
			st.closeSinks()
			return nil, fmt.Errorf("%w: partner id %q cannot name its state directory", partner.ErrInvalidConfig, p.ID)
		}
		log := env.Logger.With(zap.String("partner", p.ID))
		sink, err := partner.New(cfg, pub, append([]partner.Option{partner.WithLogger(log)}, append(opts,
			partner.WithShared(shared), partner.ForPartner(p.ID), partner.WithErased(st.erasures.Erased))...)...)
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
			recPub = &publisher{producer: rp, topics: pub.topics, json: pub.json, logID: pub.logID, log: pub.log, metrics: pub.metrics}
		}
		h := &handler{env: env, sink: sink, pub: pub, recPub: recPub, partner: p.ID, known: known, first: i == 0,
			jobsTopic: JobsTopic(env.Config.Topics, p.ID), delay: router.Delay(i)}
		proc, err := stage.New(h.processorConfig(env, cfg, append([]string{h.jobsTopic}, tiers...), progress))
		if err != nil {
			st.closeSinks()
			return nil, err
		}
		st.groups = append(st.groups, &group{handler: h, processor: proc})
	}
	return st, nil
}

// processorConfig is the fan-out's group: no state, the source headers of
// its input forwarded. new_partner_start decides where it starts the
// first time.
func (f *fanout) processorConfig(env stage.Env, cfg partner.Config, pr *progress) stage.Config {
	cc := env.ConsumerConfig(FanoutName, f.classified)
	if cfg.NewPartnerStart == partner.StartLatest {
		cc.StartOffset = stream.LastOffset
	}
	log := env.Logger.With(zap.String("stage", FanoutName))
	cc.Logger = log
	return stage.Config{
		Name: FanoutName, MetricStage: StageName, Consumer: cc, ForwardSource: true,
		Producer: env.Producer, Logic: f, Metrics: env.Metrics, Readiness: env.Readiness, Logger: log,
		MaxMessageBytes: stage.MaxMessageBytes(env.Config), Progress: groupProgress{pr: pr, g: f},
	}
}

// processorConfig is the partner's group: its stores under
// <state_dir>/sink/<partner_id>/<partition> hold only its dedup markers
// and source marks, caught up from the changelog every partner shares. Its
// jobs topic starts at the first offset: the fan-out wrote there only
// what it is to send.
func (h *handler) processorConfig(env stage.Env, cfg partner.Config, topics []string, pr *progress) stage.Config {
	cc := env.ConsumerConfig(StageName+"."+h.partner, topics...)
	log := env.Logger.With(zap.String("stage", StageName), zap.String("partner", h.partner))
	cc.Logger = log
	jobs := h.jobsTopic
	return stage.Config{
		// Partners' groups restore the same partition numbers at once, so
		// each has its own name in the readiness report.
		Name: StageName + "/" + h.partner, MetricStage: StageName, Consumer: cc,
		ChangelogTopic: env.Config.Topics.SinkChangelog, Restore: stage.RestoreCatchUp,
		CatchUpPrefix: partner.DedupKey(h.partner, ""),
		// A record the device or user stage, or the fan-out, wrote again
		// after a crash is dropped before it is offered to the partner's
		// rules.
		MarksKey: marksKey(h.partner), Marked: func(t string) bool { return t == jobs },
		StateDir: env.Config.StateDir, Producer: env.Producer, Logic: h,
		Metrics: env.Metrics, Readiness: env.Readiness, Logger: log,
		Progress: groupProgress{pr: pr, g: h, env: env, repeats: true},
		OpenStore: func(dir string, p int) (state.Store, error) {
			// Opened at the first write: a partner with no postbacks on a
			// partition costs no Badger store there.
			st, err := state.NewLazy(dir, func() (state.Store, error) { return state.OpenBadger(dir, sinkStoreOptions(env)) })
			if err != nil {
				return nil, err
			}
			return &partStore{Store: st, partition: p, pub: h.recPub, changelog: env.Config.Topics.SinkChangelog,
				log: log, logs: logQueue{pub: h.pub}, forget: h.sink.Forget}, nil
		},
		ChangelogRefused: func(m kafka.Message, err error) { h.pub.lost("changelog", m, err) },
	}
}

// sinkStoreOptions size a partner's dedup store: its values are a few
// bytes (a mark per delivered postback), and a process has one per partner
// and partition, so Badger's defaults for the device stage (8 MB
// memtables, 64 MB value-log files) would cost 50 partners' stores
// gigabytes of memory and most of the stage's start.
func sinkStoreOptions(env stage.Env) state.BadgerOptions {
	return state.BadgerOptions{Logger: env.Logger, MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20}
}

// groupProgress is one group's view of the stage's progress: the
// fan-out's, or a partner's.
type groupProgress struct {
	pr  *progress
	g   any // the fan-out or a partner's handler
	env stage.Env
	// repeats: the group counts the repeats it drops (a partner's group,
	// on its own jobs topic: each job is one partner's).
	repeats bool
}

func (p groupProgress) Assigned(topic string, part int) { p.pr.assigned(p.g, topic, part) }
func (p groupProgress) Revoked(topic string, part int)  { p.pr.revoked(p.g, topic, part) }
func (p groupProgress) Processed(topic string, part, records, repeats int) {
	p.pr.processed(p.g, topic, part, records)
	if p.repeats && repeats > 0 {
		p.env.Metrics.Repeats.WithLabelValues(StageName).Add(float64(repeats))
	}
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

// AdminHandler is the sink's admin API (without the routes other stages
// add, or the console), for tests and embedders.
func (s *Stage) AdminHandler(token string) http.Handler {
	return partner.AdminHandlerWith(token, s.admin, s.sinks...)
}

// Run consumes until ctx is cancelled or a partner's group fails (which
// stops the others: the process must not run with a partner silently
// stalled), drains, lets running deliveries finish (up to 30 s), and
// closes the stores.
func (s *Stage) Run(ctx context.Context) error {
	err := s.consume(ctx)
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{err}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, gr := range s.groups {
		// Concurrently: each Sink may wait for its running deliveries, and
		// the 30 s are for all of them together; the stores close after.
		wg.Go(func() {
			e := errors.Join(gr.handler.sink.Close(closeCtx), gr.processor.Close())
			mu.Lock()
			errs = append(errs, e)
			mu.Unlock()
		})
	}
	wg.Wait()
	errs = append(errs, s.fanout.Close())
	for _, p := range s.recordProducers {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// consume reads privacy.audit to its end, so that every erasure
// processed so far is known before anything is sent, keeps following it
// (and privacy.requests), and runs the fan-out and every partner's group
// until ctx ends or one fails.
func (s *Stage) consume(ctx context.Context) error {
	ends, err := s.erasures.load(ctx)
	if err != nil {
		return nil // ctx ended while the broker was away
	}
	fctx, stopFollow := context.WithCancel(ctx)
	var following sync.WaitGroup
	following.Go(func() {
		s.erasures.follow(fctx, s.erasures.audit, ends, func(m kafka.Message) { s.erasures.addAudit(m.Value) })
	})
	following.Go(func() { s.erasures.follow(fctx, s.erasures.requests, nil, s.erasures.addRequest) })
	defer func() { stopFollow(); following.Wait() }()
	if len(s.groups) == 0 {
		<-ctx.Done() // no partner: nothing to deliver, but the stage runs like the others
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.fanout.Consume(gctx) })
	for _, gr := range s.groups {
		g.Go(func() error { return gr.processor.Consume(gctx) })
	}
	return g.Wait()
}

// marksKey is where a partner's store keeps its source marks: beside its
// dedup markers, under its own prefix (so the changelog's key filter
// keeps it), with a NUL no postback_id has.
func marksKey(partnerID string) []byte { return partner.DedupKey(partnerID, "\x00source-marks") }

// handler is one partner's stage.Logic.
type handler struct {
	env     stage.Env
	sink    *partner.Sink
	pub     *publisher
	recPub  *publisher // for partStore's rounds
	partner string
	// known are the configured partners; first is the handler that also
	// takes retry jobs of partners no longer configured, so that exactly
	// one Sink logs them as skipped (no rule) rather than none.
	known     map[string]bool
	first     bool
	jobsTopic string        // the partner's jobs topic
	delay     time.Duration // the partner's delay: a job is not sent before its arrival + delay
	scratch   scratches
}

// scratch is a batch's working memory, reused from batch to batch (a
// batch's jobs are some hundred bytes per record). A sync.Pool would not
// do: it is emptied by every GC cycle, and the stage runs several a
// second.
type scratch struct {
	jobs []partner.Job
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
	sc.jobs = sc.jobs[:0]
	ss.mu.Lock()
	ss.free = append(ss.free, sc)
	ss.mu.Unlock()
}

// Hold waits until a batch is due (stage.Holder): a retry tier's at its
// last job's due time (the jobs of a tier come in the order they were
// scheduled), a jobs batch of a partner with a delay at its last record's
// arrival + the delay (the jobs topic is the partner's delay topic: its
// records come in about arrival order, and every one waits the same).
// It runs before the store is locked, so that a waiting tier or a delayed
// partner holds up nothing else.
func (h *handler) Hold(ctx context.Context, b stream.Batch) error {
	var due time.Time
	if b.Topic == h.jobsTopic {
		if h.delay <= 0 {
			return nil
		}
		for i := range b.Messages {
			if t := stage.Arrival(&b.Messages[i]).Add(h.delay); t.After(due) {
				due = t
			}
		}
	} else {
		sc := h.scratch.get()
		defer h.scratch.put(sc)
		jobs, err := h.decode(b, sc.jobs[:0], false)
		sc.jobs = jobs
		if err != nil {
			return err
		}
		for i := range jobs {
			if jobs[i].Due.After(due) {
				due = jobs[i].Due
			}
		}
	}
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Process offers the batch's jobs to the partner's Sink, which records
// each delivery as it ends (partStore); it returns the marks left to
// write (stage.Logic). The batch's delivery-log entries are published
// before it returns: a batch done has its delivery log written.
func (h *handler) Process(ctx context.Context, in stage.Input) (stage.Result, error) {
	ps, ok := in.Store.(*partStore)
	if !ok {
		return stage.Result{}, fmt.Errorf("sink %s: store is a %T, not the sink's", h.partner, in.Store)
	}
	sc := h.scratch.get()
	defer h.scratch.put(sc)
	var err error
	b := stream.Batch{Topic: in.Topic, Partition: in.Partition, Messages: in.Messages}
	if sc.jobs, err = h.jobs(ctx, b, sc.jobs[:0]); err != nil {
		return stage.Result{}, err
	}
	writes, err := h.sink.Process(ctx, ps, sc.jobs)
	if err != nil {
		return stage.Result{}, err
	}
	if err := ps.logs.flush(ctx); err != nil {
		return stage.Result{}, err
	}
	return stage.Result{Writes: writes}, nil
}

// jobs decodes a batch and reports its undecodable records (decode).
func (h *handler) jobs(_ context.Context, b stream.Batch, jobs []partner.Job) ([]partner.Job, error) {
	return h.decode(b, jobs, true)
}

// decode decodes a batch: the partner's jobs (classified records, offered
// to the partner's rules), or the partner's own retry jobs; other
// partners' retry jobs are skipped. A record that cannot be decoded is skipped,
// and reported when report is set (once per batch: Hold decodes a retry
// batch too): it cannot be delivered, and holding the partition would
// stop every other postback behind it. The jobs are appended to jobs.
func (h *handler) decode(b stream.Batch, jobs []partner.Job, report bool) ([]partner.Job, error) {
	jobs = slices.Grow(jobs, len(b.Messages))
	retry := b.Topic != h.jobsTopic
	for _, m := range b.Messages {
		var (
			j   partner.Job
			err error
		)
		if retry {
			err = json.Unmarshal(m.Value, &j)
		} else {
			j.Record, err = decodeClassified(m.Value, h.env.Schemas)
			j.Arrival = stage.Arrival(&m)
		}
		if err == nil {
			err = checkPostbackID(j.Record.PostbackID)
		}
		if err != nil {
			if report && h.first { // every partner's group reads it: report it once
				h.env.Logger.Error("undecodable record skipped", zap.String("topic", b.Topic), zap.Int("partition", b.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
				h.env.Metrics.Rejects.WithLabelValues(StageName, "record").Inc()
			}
			continue
		}
		if retry && j.Partner != h.partner && (h.known[j.Partner] || !h.first) {
			continue
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

// decodeClassified decodes a classified record in any form a stage writes:
// JSON, single-object, or Confluent-framed (its schema id resolved by
// the registry, when there is one).
func decodeClassified(v []byte, reg *registry.Registry) (schemas.Classified, error) {
	return decodeAny(v, reg, schemas.DecodeClassifiedJSON, schemas.DecodeClassifiedConfluent, schemas.DecodeClassified)
}

// decodeAny decodes a record of one of the sink's topics in whichever
// form it came: JSON, Confluent-framed Avro (its schema id resolved
// through reg, when there is one) or postbackd's own Avro framing.
func decodeAny[T any](v []byte, reg *registry.Registry, fromJSON func([]byte) (T, error),
	fromConfluent func([]byte, schemas.Resolver) (T, error), fromAvro func([]byte) (T, error)) (T, error) {
	switch schemas.DetectFormat(v) {
	case schemas.FormatJSON:
		return fromJSON(v)
	case schemas.FormatConfluent:
		var resolve schemas.Resolver
		if reg != nil {
			resolve = reg.Resolve
		}
		return fromConfluent(v, resolve)
	}
	return fromAvro(v)
}
