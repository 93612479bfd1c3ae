package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// RunOptions are what a caller of Run may set; the zero value is what
// `postbackd run` uses.
type RunOptions struct {
	Logger *zap.Logger // default: no logs
	// Registry takes every series of the process (default a new one).
	Registry *prometheus.Registry
	// Producer, when set, is given the process's producer and returns the
	// one the stages use: dev mode counts the records they write.
	Producer func(stage.Producer) stage.Producer
	// Readiness, when set, is given the process's readiness tracker once
	// the stages are built.
	Readiness func(*stage.Readiness)
	// Consumer tunes the stages' consumers (a test's Pause); zero fields
	// take stream's defaults.
	Consumer stream.ConsumerConfig
	// Version goes into the schema registry client's User-Agent.
	Version string
	// Admin, when set, is given the admin API's (and console's) base URL
	// once the stages are built: "" when this process serves none.
	Admin func(url string)
}

// readyGauge is postbackd_ready: 1 while /readyz answers 200, for the
// alert PostbackdNotReady (docs/monitoring/alerts.yml).
func readyGauge(r *stage.Readiness) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "postbackd_ready", Help: "1 while this process is ready (/readyz answers 200), else 0."},
		func() float64 {
			if ok, _ := r.Ready(); ok {
				return 1
			}
			return 0
		})
}

// registerSchemas connects to kafka.schema_registry_url, when set, and, for
// Avro output, registers the schemas of the topics data teams read that the
// selected stages write (classified, deadletter, delivery log) under their
// "-value" subjects. The registry's compatibility check refusing one stops
// the start with its reason.
func registerSchemas(ctx context.Context, cfg *config.Config, stages []stage.Stage, version string, logger *zap.Logger) (*registry.Registry, error) {
	if cfg.Kafka.SchemaRegistryURL == "" {
		return nil, nil
	}
	reg, err := registry.New(cfg.Kafka.SchemaRegistryURL, version, logger)
	if err != nil {
		return nil, err
	}
	if cfg.ClassifiedFormat == "json" {
		return reg, nil // JSON output: the registry only resolves raw input
	}
	writes := map[string]bool{}
	for _, s := range stages {
		for _, t := range s.Writes {
			writes[t.Name] = true
		}
	}
	for _, t := range []struct {
		topic  string
		schema *schemas.AvroSchema
	}{
		{cfg.Topics.Classified, schemas.ClassifiedAvro},
		{cfg.Topics.Deadletter, schemas.RejectAvro},
		{cfg.Topics.DeliveryLog, schemas.DeliveryLogAvro},
	} {
		if !writes[t.topic] {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, registry.RequestTimeout)
		_, err := reg.Register(rctx, t.topic, t.schema)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// Run builds the stages inside-out (Kafka dialer, topics, producer, the
// shared Env, each stage) and runs them with the health and metrics
// listener until ctx is cancelled; every stage drains its batch in flight
// before Run returns. One failing stage stops the others and Run returns
// its error, so that the process exits non-zero and its supervisor
// restarts it while the group moves its partitions, rather than running
// on with a stage missing.
func Run(ctx context.Context, cfg *config.Config, stages []stage.Stage, opts RunOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	dialer, err := Dialer(cfg.Kafka)
	if err != nil {
		return err
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	topics, err := stage.Topics(stages)
	if err != nil {
		return err
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Logger: logger}, topics...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	producer, err := stream.NewProducer(ProducerConfig(cfg, dialer, logger))
	if err != nil {
		return err
	}
	defer producer.Close()

	schemaReg, err := registerSchemas(ctx, cfg, stages, opts.Version, logger)
	if err != nil {
		return err
	}
	env := stage.Env{
		Config: cfg, Dialer: dialer, Producer: producer, Registerer: reg,
		Metrics: stage.NewMetrics(reg), Readiness: stage.NewReadiness(), Logger: logger,
		Consumer: opts.Consumer, Schemas: schemaReg, Admin: stage.NewAdmin(),
	}
	if opts.Producer != nil {
		env.Producer = opts.Producer(producer)
	}
	// While the broker is away producing pauses (nothing is dropped, no
	// stage stops): /readyz and the postbackd_broker_* series say so.
	env.Readiness.AddCheck(producer.Ready)
	reg.MustRegister(stage.BrokerCollector(producer), readyGauge(env.Readiness))
	runners := make([]stage.Runner, 0, len(stages))
	for _, s := range stages {
		r, err := s.Build(env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		runners = append(runners, r)
	}
	// Served by the sink's admin API when this process has one; a copy
	// without the device or user stage forwards to the owner.
	addStateQueries(cfg, dialer, env.Admin)
	if opts.Admin != nil {
		opts.Admin(env.Admin.URL())
	}
	if opts.Readiness != nil {
		opts.Readiness(env.Readiness)
	}

	health := &stage.HealthServer{Addr: cfg.HTTP.Listen, Readiness: env.Readiness, Gatherer: reg, Logger: logger}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range runners {
		g.Go(func() error { return r.Run(gctx) })
	}
	g.Go(func() error { return health.Run(gctx) })
	env.Readiness.MarkStarted()
	logger.Info("pipeline running", zap.Strings("brokers", cfg.Kafka.Brokers), zap.Strings("stages", stage.Names(stages)))
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("pipeline stopped", zap.Error(err))
	return err
}
