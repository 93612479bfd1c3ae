package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// Stage names for --stages.
var allStages = []string{"normalize", "device", "user", "sink"}

var runCommand = command{
	name:    "run",
	summary: "run the pipeline's stages against a Kafka cluster",
	usage:   "[--config FILE] [--stages normalize,device,user,sink]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var (
			cfgPath string
			stages  string
			listen  string
			logs    logFlags
		)
		fs.StringVar(&cfgPath, "config", "", "configuration file (default: built-in defaults)")
		fs.StringVar(&stages, "stages", strings.Join(allStages, ","), "comma-separated stages to run in this process")
		fs.StringVar(&listen, "http", "", "health and metrics listen address (default: http.listen from config)")
		logs.register(fs)
		return func(ctx context.Context, env *environment) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.HTTP.Listen = listen
			}
			logger, err := logs.logger()
			if err != nil {
				return err
			}
			defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
			set, err := parseStages(stages)
			if err != nil {
				return err
			}
			return runPipeline(ctx, cfg, set, logger, nil)
		}
	},
}

func parseStages(s string) (map[string]bool, error) {
	set := make(map[string]bool)
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		known := false
		for _, a := range allStages {
			known = known || a == name
		}
		if !known {
			return nil, fmt.Errorf("--stages: unknown stage %q (want some of %s)", name, strings.Join(allStages, ","))
		}
		set[name] = true
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("--stages: no stage named")
	}
	return set, nil
}

// pipelineHooks lets dev mode and tests see inside a running pipeline.
type pipelineHooks struct {
	registry *prometheus.Registry
	env      func(*pipeline.Env)
}

// runPipeline builds the stages inside-out (config, logger, Kafka, stores,
// stages) and runs them until ctx is cancelled; every stage drains its
// batch in flight before runPipeline returns.
func runPipeline(ctx context.Context, cfg *config.Config, stages map[string]bool, logger *zap.Logger, hooks *pipelineHooks) error {
	dialer, err := pipeline.Dialer(cfg.Kafka)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if hooks != nil && hooks.registry != nil {
		reg = hooks.registry
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	topics := pipeline.Topics(cfg)
	var sc partner.Config
	if stages["sink"] {
		if sc, err = sinkConfig(cfg); err != nil {
			return err
		}
		topics = append(topics, sinkstage.Topics(pipeline.Env{Config: cfg}, len(sc.Retry.Tiers))...)
	}
	if err := stream.EnsureTopics(ctx, stream.TopicsConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Logger: logger}, topics...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	producer, err := stream.NewProducer(pipeline.ProducerConfig(cfg, dialer, logger))
	if err != nil {
		return err
	}
	defer producer.Close()

	env := pipeline.Env{
		Config: cfg, Dialer: dialer, Producer: producer,
		Metrics: stage.NewMetrics(reg), Readiness: stage.NewReadiness(), Logger: logger,
	}
	// While the broker is away producing pauses (nothing is dropped, no
	// stage stops): /readyz and the postbackd_broker_* series say so.
	env.Readiness.AddCheck(producer.Ready)
	reg.MustRegister(stage.BrokerCollector(producer))
	if hooks != nil && hooks.env != nil {
		hooks.env(&env)
	}
	var runners []func(context.Context) error
	if stages["normalize"] {
		s, err := pipeline.NewNormalizeStage(env)
		if err != nil {
			return err
		}
		runners = append(runners, s.Run)
	}
	if stages["device"] {
		s, err := pipeline.NewDeviceStage(env)
		if err != nil {
			return err
		}
		runners = append(runners, s.Run)
	}
	if stages["user"] {
		s, err := pipeline.NewUserStage(env)
		if err != nil {
			return err
		}
		runners = append(runners, s.Run)
	}
	if stages["sink"] {
		run, err := newSinkRunner(sc, env, reg)
		if err != nil {
			return err
		}
		runners = append(runners, run)
	}

	health := &stage.HealthServer{Addr: cfg.HTTP.Listen, Readiness: env.Readiness, Gatherer: reg, Logger: logger}
	// One failing stage stops the others and the process exits non-zero,
	// so that its supervisor restarts it and the group moves its
	// partitions meanwhile, rather than running on with a stage missing.
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range runners {
		g.Go(func() error { return r(gctx) })
	}
	g.Go(func() error { return health.Run(gctx) })
	env.Readiness.MarkStarted()
	logger.Info("pipeline running", zap.Strings("brokers", cfg.Kafka.Brokers), zap.Any("stages", stages))
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("pipeline stopped", zap.Error(err))
	return err
}
