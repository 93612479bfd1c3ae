package main

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

// sinkConfig parses the sink section of cfg, checks its endpoints and
// reads its partners' signing secrets, reporting problems with file, line
// and field like the rest of the file, so that run refuses a bad sink
// section at start, before it connects to Kafka.
func sinkConfig(cfg *config.Config) (partner.Config, error) {
	return parseSink(cfg, true)
}

// parseSink is sinkConfig; withSecrets false skips reading the secrets
// (check-config --skip-secrets, on a machine that does not hold them).
func parseSink(cfg *config.Config, withSecrets bool) (partner.Config, error) {
	if cfg == nil {
		return partner.Config{}, errors.New("no configuration")
	}
	sc, problems := partner.ParseConfig(cfg.File, &cfg.Sink, cfg.KnownApp)
	problems = append(problems, partner.CheckEndpoints(cfg.File, &cfg.Sink, sc)...)
	if withSecrets {
		problems = append(problems, partner.ReadSecrets(cfg.File, &cfg.Sink, &sc)...)
	}
	if len(problems) > 0 {
		return sc, config.Problems(problems)
	}
	return sc, nil
}

// newSinkRunner builds the partner delivery sink stage (a consumer group
// and a Sink per partner), and its admin API, one listener over every
// partner, when a token is configured.
func newSinkRunner(sc partner.Config, env pipeline.Env, reg prometheus.Registerer) (func(context.Context) error, error) {
	stage, err := sinkstage.New(env, sc, partner.WithRegisterer(reg), partner.WithVersion(version))
	if err != nil {
		return nil, err
	}
	_, tokenErr := sc.AdminToken()
	return func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return stage.Run(gctx) })
		if tokenErr == nil {
			g.Go(func() error { return stage.RunAdmin(gctx) })
		} else {
			env.Logger.Warn("admin api off: no token configured", zap.Error(tokenErr))
		}
		err := g.Wait()
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil
		}
		return err
	}, nil
}
