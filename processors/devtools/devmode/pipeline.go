package devmode

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/sinks/partner"
)

// devPipeline is a pipeline started by dev mode, with what dev mode reads
// from it.
type devPipeline struct {
	registry   *prometheus.Registry
	classified *classifiedCounter
	// sinkErr is why the pipeline runs without its sink (nil: with it).
	sinkErr error
	done    chan error // runPipeline's result, once
	cancel  context.CancelFunc
	// adminURL is the admin API's and console's base URL ("" without).
	adminURL atomic.Pointer[string]
}

// readyTimeout bounds the start of the stages (topic creation included).
const readyTimeout = 60 * time.Second

// startDevPipeline runs every stage. A sink that cannot be built does not
// stop the demo: the classification stages are run without it, and
// sinkErr says why there are no deliveries.
func startDevPipeline(ctx context.Context, cfg *config.Config, logger *zap.Logger) (*devPipeline, error) {
	p, err := tryDevPipeline(ctx, cfg, logger, true)
	if err == nil || ctx.Err() != nil {
		return p, err
	}
	logger.Warn("starting without the sink", zap.Error(err))
	p, err2 := tryDevPipeline(ctx, cfg, logger, false)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	p.sinkErr = err
	return p, nil
}

// tryDevPipeline starts the stages and waits until they report started.
func tryDevPipeline(ctx context.Context, cfg *config.Config, logger *zap.Logger, withSink bool) (*devPipeline, error) {
	var sc *partner.Config
	if withSink {
		c, err := partner.FromConfig(cfg, true)
		if err != nil {
			return nil, err
		}
		sc = &c
	}
	// A fresh registry per attempt: the stages register their series on it
	// and a second registration would panic.
	p := &devPipeline{
		registry:   prometheus.NewRegistry(),
		classified: newClassifiedCounter(nil, cfg.Topics, cfg.ClassifiedFormat == "json"),
		done:       make(chan error, 1),
	}
	var readiness atomic.Pointer[stage.Readiness]
	opts := pipeline.RunOptions{
		Logger: logger, Registry: p.registry,
		Producer: func(real stage.Producer) stage.Producer {
			p.classified.Producer = real
			return p.classified
		},
		Readiness: func(r *stage.Readiness) { readiness.Store(r) },
		Admin:     func(u string) { p.adminURL.Store(&u) },
	}
	pctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	stages := pipeline.Topology(cfg, sc, partner.WithVersion("dev"))
	go func() { p.done <- pipeline.Run(pctx, cfg, stages, opts) }()

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-p.done:
			cancel()
			if err == nil {
				err = errors.New("pipeline stopped during start")
			}
			return nil, err
		case <-deadline.C:
			cancel()
			<-p.done
			return nil, fmt.Errorf("pipeline not started after %s", readyTimeout)
		case <-poll.C:
			if r := readiness.Load(); r != nil {
				if ok, _ := r.Ready(); ok {
					return p, nil
				}
			}
		}
	}
}

// stop cancels the stages and waits for them to drain.
func (p *devPipeline) stop() error {
	p.cancel()
	return <-p.done
}
