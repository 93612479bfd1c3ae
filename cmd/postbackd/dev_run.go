package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/postbackd/postbackd/processors/devtools/devmode"
	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/stream"
)

// devResult is what a dev run ends with; tests compare its parts.
type devResult struct {
	summary devmode.Summary
	partner partnerStats // the demo partner's own record
}

// errNotSettled is returned by a run with --events whose records were not
// all processed in time.
var errNotSettled = errors.New("the pipeline did not process every generated record in time")

// runDev runs the local demo: broker, demo partner, pipeline and traffic,
// with live progress on stdout and a summary at the end.
func runDev(ctx context.Context, o devOptions, env *environment) (*devResult, error) {
	logger, err := o.logs.logger()
	if err != nil {
		return nil, err
	}
	defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	// Client warnings (a broker connection timing out) come with stack
	// traces in console format, which bury the progress view.
	logger = logger.WithOptions(zap.AddStacktrace(zapcore.DPanicLevel))

	settings := devRunSettings{partitions: o.partitions, runID: "postbackd-dev-" + randomHex(4)}
	if o.brokers != "" {
		settings.brokers = strings.Split(o.brokers, ",")
	} else {
		brokers, stop, err := startInProcessBroker()
		if err != nil {
			return nil, err
		}
		defer stop()
		settings.brokers, settings.inProcess = brokers, true
	}
	settings.stateDir, err = os.MkdirTemp("", "postbackd-dev-state-")
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	defer os.RemoveAll(settings.stateDir)

	partner, err := startDemoPartner(logger)
	if err != nil {
		return nil, err
	}
	defer partner.Close()
	settings.partnerURL = partner.url

	cfg, err := devConfig(o.configPath, settings)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.stdout, "postbackd dev: brokers %s, topics %s*, demo partner %s\n",
		strings.Join(cfg.Kafka.Brokers, ","), cfg.Topics.Prefix, partner.url)

	p, err := startDevPipeline(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("start pipeline: %w", err)
	}
	if p.sinkErr != nil {
		fmt.Fprintf(env.stdout, "postbackd dev: running without the sink: %v\n", p.sinkErr)
	}

	producer, err := stream.NewProducer(pipeline.ProducerConfig(cfg, nil, logger))
	if err != nil {
		return nil, errors.Join(err, p.stop())
	}
	defer producer.Close()
	feed := &feeder{
		gen: generator.New(generator.Config{
			Seed: o.seed, Devices: o.devices, MalformedRate: devMalformedRate,
		}),
		producer: producer, topic: cfg.Topics.RawEvents, rate: o.rate, limit: o.events,
	}
	w := &devWatch{
		opts: o, pipeline: p, feed: feed, partner: partner,
		deadletterTopic: cfg.Topics.Deadletter, eventsByDevice: cfg.Topics.EventsByDevice, eventsByUser: cfg.Topics.EventsByUser,
		progress: devmode.NewProgress(env.stdout, isTerminal(env.stdout)), logger: logger,
	}
	res, err := w.run(ctx)
	if res != nil {
		fmt.Fprintln(env.stdout)
		if werr := res.summary.Write(env.stdout); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return res, err
}

// devMalformedRate is the share of generated records that are malformed,
// enough to see the deadletter fill.
const devMalformedRate = 0.01

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
